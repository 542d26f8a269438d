"""Load over HTTP: N concurrent clients for a fixed time, against the sandbox, beside an echo floor.

Starts the sandbox upstream, this server (server-key mode with an access token, so
authentication is part of every call) and bench/echo_server.py (the same SDK, transport mode
and uvicorn, one tool that answers at once) as separate processes on loopback. Each round
drives, in rotating order and with the same raw JSON-RPC client:
  - get_generation: one upstream lookup in the sandbox per call (the tool's real work);
  - extract_generation_id on a bare id: this server's HTTP layer (auth, Host/Origin checks,
    body limit) and tool dispatch without the upstream call;
  - the echo floor.
Prints calls/s (median of the rounds), p50/p99 latency, errors (must be 0) and each server
process's RSS after warm-up and at the end.

Run: python bench/load.py [--clients 8] [--seconds 5] [--rounds 3] [--modes stateful,stateless]
The last line is the worst ratio, over the modes, of get_generation calls/s to the echo floor's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from kushrouter_mcp.sandbox import CHAT_ID

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token-0123456789abcdef"  # noqa: S105 - a throwaway token for a loopback bench
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
PROTOCOL = "2025-11-25"


@dataclass
class Run:
    calls: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.calls / self.seconds


@dataclass
class Target:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    headers: dict[str, str]
    tool: str
    arguments: dict[str, Any]
    runs: list[Run] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a server exited early with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listened on port {port}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_sandbox() -> tuple[subprocess.Popen[bytes], str, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "kushrouter_mcp", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    base_url = process.stdout.readline().decode().strip().split("=", 1)[1]
    key = process.stdout.readline().decode().strip().split("=", 1)[1]
    return process, base_url, key


def start_targets(base_url: str, key: str, stateless: bool) -> list[Target]:
    mode_args = ["--stateless"] if stateless else []
    ours, echo = free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "KUSHROUTER_BASE_URL": base_url,
        "KUSHROUTER_API_KEY": key,
        "KUSHROUTER_MCP_TOKENS": TOKEN,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "kushrouter_mcp", "--transport", "http", "--port", str(ours), *mode_args],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    floor = subprocess.Popen([sys.executable, str(HERE / "echo_server.py"), str(echo), *mode_args])
    wait_for_port(ours, server)
    wait_for_port(echo, floor)
    url, auth = f"http://127.0.0.1:{ours}/mcp", {"Authorization": f"Bearer {TOKEN}"}
    return [
        Target("get_generation", server, url, auth, "get_generation", {"id": CHAT_ID}),
        Target("extract (no upstream)", server, url, auth, "extract_generation_id", {"payload": CHAT_ID}),
        Target("echo floor", floor, f"http://127.0.0.1:{echo}/mcp", {}, "echo", {"id": CHAT_ID}),
    ]


def answer_of(response: httpx.Response) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                return dict(json.loads(line[5:]))
        return {}
    return dict(response.json())


async def open_session(http: httpx.AsyncClient, target: Target) -> dict[str, str]:
    """Initialize like any client; in stateless mode there is no session id to carry."""
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "load", "version": "1"},
        },
    }
    response = await http.post(target.url, json=init)
    response.raise_for_status()
    headers = {"mcp-protocol-version": PROTOCOL}
    if "mcp-session-id" in response.headers:
        headers["mcp-session-id"] = response.headers["mcp-session-id"]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    await http.post(target.url, json=initialized, headers=headers)
    return headers


async def client(target: Target, stop_at: float, run: Run) -> None:
    async with httpx.AsyncClient(headers={**ACCEPT, **target.headers}, timeout=30) as http:
        headers = await open_session(http, target)
        call_id = 0
        while time.monotonic() < stop_at:
            call_id += 1
            call = {
                "jsonrpc": "2.0",
                "id": call_id,
                "method": "tools/call",
                "params": {"name": target.tool, "arguments": target.arguments},
            }
            started = time.perf_counter()
            try:
                response = await http.post(target.url, json=call, headers=headers)
                answer = answer_of(response)
                ok = response.status_code == 200 and answer.get("result", {}).get("isError") is False
            except (httpx.HTTPError, ValueError):
                ok = False
            run.latencies.append(time.perf_counter() - started)
            run.calls += 1
            run.errors += not ok
        if "mcp-session-id" in headers:  # end the session, as real clients do
            await http.delete(target.url, headers=headers)


async def drive(target: Target, clients: int, seconds: float) -> Run:
    run = Run()
    started = time.monotonic()
    await asyncio.gather(*(client(target, started + seconds, run) for _ in range(clients)))
    run.seconds = time.monotonic() - started
    return run


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(target: Target) -> float:
    rate = statistics.median(run.rate for run in target.runs)
    latencies = [latency for run in target.runs for latency in run.latencies]
    errors = sum(run.errors for run in target.runs)
    print(
        f"  {target.name:<22} {rate:7.1f} calls/s  p50 {1000 * percentile(latencies, 0.5):6.1f} ms  "
        f"p99 {1000 * percentile(latencies, 0.99):6.1f} ms  errors {errors}"
    )
    return rate


def report_rss(name: str, start: int, end: int) -> None:
    growth = 100 * (end - start) / start
    print(f"  RSS {name:<18} {start / 1024:6.1f} -> {end / 1024:6.1f} MiB ({growth:+.1f}%)")


def bench_mode(base_url: str, key: str, stateless: bool, args: argparse.Namespace) -> float:
    targets = start_targets(base_url, key, stateless)
    processes = {"kushrouter-mcp": targets[0].process, "echo floor": targets[-1].process}
    try:
        for target in targets:  # warm up: imports, first connections, the upstream client's pool
            asyncio.run(drive(target, args.clients, 1.0))
        rss_start = {name: rss_kib(process.pid) for name, process in processes.items()}
        for round_number in range(args.rounds):
            shift = round_number % len(targets)
            for target in targets[shift:] + targets[:shift]:
                target.runs.append(asyncio.run(drive(target, args.clients, args.seconds)))
        mode = "stateless" if stateless else "stateful"
        print(f"{mode} ({args.clients} clients, {args.rounds} rounds of {args.seconds:g} s per target):")
        lookup, extract, floor = (report(target) for target in targets)
        for name, process in processes.items():
            report_rss(name, rss_start[name], rss_kib(process.pid))
        print(f"  ratio to echo: get_generation {lookup / floor:.2f}, extract {extract / floor:.2f}")
        return lookup / floor
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default="stateful,stateless")
    args = parser.parse_args()
    sandbox, base_url, key = start_sandbox()
    try:
        ratios = {
            mode: bench_mode(base_url, key, mode == "stateless", args) for mode in args.modes.split(",")
        }
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    worst = min(ratios, key=lambda mode: ratios[mode])
    print(f"ratio get_generation / echo floor calls/s (worst mode, {worst}): {ratios[worst]:.2f}")


if __name__ == "__main__":
    main()
