"""What every bench shares: the two servers, a raw stdio JSON-RPC client, medians, the verdict line
and /proc readings (servers and the sandbox as processes: kushrouter_mcp.sandbox.processes).

The client is deliberately not the SDK's: a line written, a line read, so the clock sees the
server and the pipe and nothing of a client's own validation. Both servers get the same
treatment; only the ratio between them, measured side by side in one run, means anything.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from kushrouter_mcp.sandbox import processes
from kushrouter_mcp.sandbox.samples import ALICE_KEY

BENCH = Path(__file__).resolve().parent
PROTOCOL_VERSION = "2025-11-25"  # the handshake era every IDE speaks today

MIB = 1024 * 1024
# Delta texts, escapes and non-ASCII included; a delta's text ends with a space.
WORDS = ["lorem", "ipsum", "dolor", "sit", "amet,", r"\"adipiscing\"", "elit", "—", "sed", "do", "eiusmod"]
# Per family: the events before the deltas, one delta (%(n)d its number, %(w)s its text), the events
# after; each capture reports total_tokens 46 and looks like what the API streams.
FAMILIES: dict[str, tuple[str, str, str]] = {
    "openai.chat.completions": (
        'data: {"id":"chatcmpl-bench-1","object":"chat.completion.chunk","created":1731753062,'
        '"model":"gpt-5-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},'
        '"finish_reason":null}]}\n\n',
        'data: {"id":"chatcmpl-bench-1","object":"chat.completion.chunk","created":1731753062,'
        '"model":"gpt-5-mini","choices":[{"index":0,"delta":{"content":"%(w)s "},"finish_reason":null}]}\n\n',
        'data: {"id":"chatcmpl-bench-1","object":"chat.completion.chunk","created":1731753062,'
        '"model":"gpt-5-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":34,'
        '"total_tokens":46}}\n\ndata: [DONE]\n\n',
    ),
    "anthropic.messages": (
        'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_bench1","type":"message",'
        '"role":"assistant","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":12,'
        '"output_tokens":1}}}\n\n',
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        '"delta":{"type":"text_delta","text":"%(w)s "}}\n\n',
        'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
        '"usage":{"output_tokens":34}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n',
    ),
    "openai.responses": (
        'event: response.created\ndata: {"type":"response.created","sequence_number":0,'
        '"response":{"id":"resp_bench1","object":"response","status":"in_progress","model":"gpt-5"}}\n\n',
        'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
        '"sequence_number":%(n)d,"item_id":"msg_bench2","output_index":0,"content_index":0,'
        '"delta":"%(w)s ","logprobs":[]}\n\n',
        'event: response.completed\ndata: {"type":"response.completed","sequence_number":999999,'
        '"response":{"id":"resp_bench1","object":"response","status":"completed","model":"gpt-5",'
        '"usage":{"input_tokens":12,"output_tokens":34,"total_tokens":46}}}\n\n',
    ),
}


def stream_of(size: int, family: str = "openai.chat.completions") -> str:
    """A captured SSE stream of about `size` characters: varied delta text, usage at the end."""
    head, delta, tail = FAMILIES[family]
    events = [head]
    total = len(head) + len(tail)
    number = 1
    while total < size:
        events.append(delta % {"n": number, "w": WORDS[number % len(WORDS)]})
        total += len(events[-1])
        number += 1
    return "".join(events) + tail


OURS = [sys.executable, "-m", "kushrouter_mcp"]
UNCACHED = {"KUSHROUTER_MCP_CACHE_SIZE": "0"}  # every lookup reaches upstream, as the floor's do
FLOOR = [sys.executable, str(BENCH / "floor_server.py")]


def initialize_params(client_name: str) -> dict[str, Any]:
    """The `initialize` request's params, as every bench client sends them."""
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": client_name, "version": "1"},
    }


def server_env(base_url: str = "http://127.0.0.1:9", api_key: str | None = None) -> dict[str, str]:
    """The environment an IDE would give either server: its settings and PATH, nothing else.

    The default base URL is the discard port on loopback: nothing is ever reached by accident.
    """
    return processes.server_env(base_url, api_key)


class StdioServer:
    """A server process spoken to in JSON-RPC lines over its stdin and stdout."""

    def __init__(self, argv: Sequence[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=BENCH.parent
        )
        self._last_id = 0

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.timed_request(method, params)[1]

    def timed_request(
        self, method: str, params: dict[str, Any] | None = None
    ) -> tuple[float, dict[str, Any]]:
        """(seconds from the write to the answer's arrival, its result).

        The clock covers the server and the pipe only: encoding the request happens before it
        starts and parsing the answer after it stops, so a big echo costs the floor no client time.
        """
        self._last_id += 1
        request_id = self._last_id
        data = self._encode({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        started = time.perf_counter()
        self.process.stdin.write(data)  # one write, as a real client sends it
        self.process.stdin.flush()
        while True:  # notifications on the way are skipped
            line = self.process.stdout.readline()
            arrived = time.perf_counter()
            if not line:
                raise RuntimeError(f"server exited (code {self.process.poll()}) before answering")
            message = json.loads(line)
            if message.get("id") == request_id:
                break
        if "error" in message:
            raise RuntimeError(f"{method} failed: {message['error']}")
        result: dict[str, Any] = message["result"]
        return arrived - started, result

    def initialize(self) -> dict[str, Any]:
        result = self.request("initialize", initialize_params("kushrouter-bench"))
        assert self.process.stdin is not None
        self.process.stdin.write(self._encode({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        self.process.stdin.flush()
        return result

    def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return self.timed_call(name, arguments)[1]

    def timed_call(self, name: str, arguments: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """A tools/call timed as `timed_request`; an isError answer fails the bench, never counts."""
        seconds, result = self.timed_request("tools/call", {"name": name, "arguments": arguments})
        if result.get("isError"):
            raise RuntimeError(f"{name} answered isError: {str(result.get('content'))[:500]}")
        return seconds, result

    def peak_rss_kib(self) -> int:
        """The process's peak resident set (VmHWM) so far, in KiB (Linux /proc)."""
        return proc_status_kib(self.process.pid, "VmHWM")

    def close(self) -> None:
        """End of input is how a stdio client says goodbye; kill only a server that ignores it."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> StdioServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @staticmethod
    def _encode(message: dict[str, Any]) -> bytes:
        return json.dumps(message).encode() + b"\n"


def quartiles(samples: Sequence[float]) -> tuple[float, float, float]:
    """(25th percentile, median, 75th percentile); a single sample is all three."""
    if len(samples) == 1:
        return samples[0], samples[0], samples[0]
    low, median, high = statistics.quantiles(samples, n=4, method="inclusive")
    return low, median, high


def describe(name: str, samples: Sequence[float], unit: str, scale: float = 1.0, digits: int = 1) -> str:
    """`name: median unit (IQR low–high, n samples)`, the spread a noisy machine owes its reader."""
    low, median, high = (value * scale for value in quartiles(samples))
    return (
        f"{name}: median {median:.{digits}f} {unit} "
        f"(IQR {low:.{digits}f}–{high:.{digits}f}, n={len(samples)})"
    )


def verdict(label: str, ours: float, floor: float, unit: str, goal: float, digits: int = 1) -> str:
    """The last line of every bench, parsed by run_all: figures, ratio to the floor, goal."""
    ratio = ours / floor
    miss = (ratio / goal - 1) * 100
    outcome = "met" if ratio <= goal else f"missed by {miss:.1f}%" if miss < 1 else f"missed by {miss:.0f}%"
    return (
        f"{label}: ours {ours:.{digits}f} {unit}, floor {floor:.{digits}f} {unit} -> ratio {ratio:.2f}x "
        f"(goal <= {goal:.2f}x, {outcome})"
    )


def print_alternating(
    steady: dict[str, list[float]], batches: dict[str, list[float]], warm_up: int, ids: int, concurrency: int
) -> None:
    """The timings of two servers measured in turns (ours first, the floor second, in seconds): each
    one's steady-state calls, the ratio per pair of calls, and each one's batch rounds."""
    ours, floor = steady
    print(f"steady state, {len(steady[ours])} calls each, alternating, after {warm_up} warm-up calls each:")
    for name, times in steady.items():
        print(describe(f"  {name:<10}", times, "ms", 1000, digits=2))
    pairs = [a / b for a, b in zip(steady[ours], steady[floor], strict=True)]
    print(describe("  ratio per pair", pairs, "x", digits=2))
    print(f"{ids}-id get_generations, concurrency {concurrency}, {len(batches[ours])} rounds each:")
    for name, times in batches.items():
        rounds = ", ".join(f"{t * 1000:.0f}" for t in times)
        print(f"  {name:<10}: median {statistics.median(times) * 1000:.1f} ms (rounds: {rounds})")


def proc_status_kib(pid: int, field: str) -> int:
    """A figure in KiB from /proc/<pid>/status (Linux): VmRSS is resident now, VmHWM its peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status (Linux only)")


def publish(base_url: str, ids: list[str]) -> None:
    """Records for `ids` in the sandbox, found from now on."""
    with httpx.Client(base_url=base_url, trust_env=False) as http:
        for gen_id in ids:
            http.post("/_sandbox/records", json={"id": gen_id}).raise_for_status()


def stdio_server(base_url: str, *args: str, **env: str) -> Client:
    """The MCP server (or another script, with args) as a stdio subprocess, through the SDK's client."""
    params = StdioServerParameters(
        command=sys.executable,
        args=list(args) or ["-m", "kushrouter_mcp"],
        env={**server_env(base_url, ALICE_KEY), **env},
    )
    return Client(stdio_client(params))
