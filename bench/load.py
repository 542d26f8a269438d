"""Load over HTTP: N concurrent clients for a fixed time, against the sandbox, beside the echo floor.

Starts the sandbox upstream, two processes of this server (server-key mode with an access token,
so authentication is part of every call) and bench/floor_server.py --http (the same SDK,
transport mode and uvicorn; its `echo` answers at once) as separate processes on loopback.
The two servers of ours differ in one setting only:
  - default config, the cache on (KUSHROUTER_MCP_CACHE_SIZE unset: 1024 records). The bench looks
    up the same record over and over, so every get_generation after the first is a cache hit;
  - cache off (KUSHROUTER_MCP_CACHE_SIZE=0): every get_generation reaches the sandbox.
Each round drives, in rotating order and with the same raw JSON-RPC client:
  - get_generation, default config (repeat lookups: cache hits);
  - get_generation, cache off (one sandbox lookup per call: the tool's full work);
  - extract_generation_id on a bare id (default-config process): this server's HTTP layer (auth,
    Host/Origin checks, body limit) and tool dispatch without any lookup;
  - the echo floor.
Prints calls/s (median of the rounds, and each round's), p50/p99 latency, errors (must be 0: any
error fails the bench), each server process's RSS after warm-up and at the end, and each target's
ratio of calls/s to the echo floor's: the median of the per-round ratios, with their spread.

Run: python bench/load.py [--clients 8] [--seconds 2] [--rounds 8] [--modes stateful,stateless]
The last line gives, for each get_generation variant, its worst ratio over the modes, and
whether it meets the 0.85x goal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx

from _common import (
    BENCH,
    FLOOR,
    OURS,
    PROTOCOL_VERSION,
    UNCACHED,
    describe,
    initialize_params,
    proc_status_kib,
    server_env,
)
from kushrouter_mcp.sandbox.processes import free_port, running_sandbox, running_server
from kushrouter_mcp.sandbox.samples import ALICE_KEY, CHAT_ID

GOAL = 0.85  # get_generation calls/s at least this fraction of the echo floor's
TOKEN = "bench-token-0123456789abcdef"  # noqa: S105 - a throwaway token for a loopback bench
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
CACHED, UNCACHED_LOOKUP, EXTRACT, ECHO = (
    "get_generation, default config (cache hits)",
    "get_generation, cache off (sandbox every call)",
    "extract_generation_id (no lookup)",
    "echo floor",
)


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
    url: str
    headers: dict[str, str]
    tool: str
    arguments: dict[str, Any]
    runs: list[Run] = field(default_factory=list)
    # Each call's arguments, when they must differ (bench/ledger_replicas.py: a new id, a new row).
    next_arguments: Callable[[], dict[str, Any]] | None = None


def start_servers(stack: ExitStack, base_url: str, stateless: bool) -> tuple[list[Target], dict[str, int]]:
    """(the targets, each server process's pid by name); `stack` stops every process."""
    mode = ["--stateless"] if stateless else []
    floor_env = server_env(base_url, ALICE_KEY)
    ours_env = {**floor_env, "KUSHROUTER_MCP_TOKENS": TOKEN}

    def ours(port: int) -> list[str]:
        return [*OURS, "--transport", "http", "--port", str(port), *mode]

    def floor(port: int) -> list[str]:
        return [*FLOOR, "--http", str(port), *mode]

    servers: dict[str, tuple[Callable[[int], list[str]], dict[str, str]]] = {  # name: (argv, env)
        "ours, default config": (ours, ours_env),
        "ours, cache off": (ours, ours_env | UNCACHED),
        "echo floor": (floor, floor_env),
    }
    urls: dict[str, str] = {}
    pids: dict[str, int] = {}
    for name, (argv, env) in servers.items():
        port = free_port()
        started = running_server(argv(port), port, env, timeout=30, stop_timeout=30, cwd=BENCH.parent)
        server = stack.enter_context(started)
        pids[name], urls[name] = server.process.pid, server.url
    auth = {"Authorization": f"Bearer {TOKEN}"}
    lookup = {"id": CHAT_ID}
    targets = [
        Target(CACHED, urls["ours, default config"], auth, "get_generation", lookup),
        Target(UNCACHED_LOOKUP, urls["ours, cache off"], auth, "get_generation", lookup),
        Target(EXTRACT, urls["ours, default config"], auth, "extract_generation_id", {"payload": CHAT_ID}),
        Target(ECHO, urls["echo floor"], {}, "echo", {"text": CHAT_ID}),
    ]
    return targets, pids


def answer_of(response: httpx.Response) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                return dict(json.loads(line[5:]))
        return {}
    return dict(response.json())


async def open_session(http: httpx.AsyncClient, target: Target) -> dict[str, str]:
    """Initialize like any client; in stateless mode there is no session id to carry."""
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": initialize_params("load")}
    response = await http.post(target.url, json=init)
    response.raise_for_status()
    headers = {"mcp-protocol-version": PROTOCOL_VERSION}
    if "mcp-session-id" in response.headers:
        headers["mcp-session-id"] = response.headers["mcp-session-id"]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    await http.post(target.url, json=initialized, headers=headers)
    return headers


def arguments_of(target: Target) -> dict[str, Any]:
    return target.next_arguments() if target.next_arguments else target.arguments


async def client(target: Target, stop_at: float, run: Run) -> None:
    async with httpx.AsyncClient(headers={**ACCEPT, **target.headers}, timeout=30, trust_env=False) as http:
        headers = await open_session(http, target)
        call_id = 0
        while time.monotonic() < stop_at:
            call_id += 1
            call = {
                "jsonrpc": "2.0",
                "id": call_id,
                "method": "tools/call",
                "params": {"name": target.tool, "arguments": arguments_of(target)},
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


def report(target: Target) -> tuple[float, int]:
    """Prints the target's line; (median calls/s over the rounds, errors)."""
    rate = statistics.median(run.rate for run in target.runs)
    latencies = [latency for run in target.runs for latency in run.latencies]
    errors = sum(run.errors for run in target.runs)
    rounds = ", ".join(f"{run.rate:.0f}" for run in target.runs)
    print(
        f"  {target.name:<46} {rate:7.1f} calls/s (rounds {rounds})  "
        f"p50 {1000 * percentile(latencies, 0.5):5.1f} ms  p99 {1000 * percentile(latencies, 0.99):5.1f} ms  "
        f"errors {errors}"
    )
    return rate, errors


def bench_mode(base_url: str, stateless: bool, args: argparse.Namespace) -> tuple[dict[str, float], int]:
    """(median per-round ratio of calls/s to the echo floor's, by target name; errors) for one mode."""
    with ExitStack() as stack:
        targets, pids = start_servers(stack, base_url, stateless)
        for target in targets:  # warm up: imports, first connections, the upstream client, the cache
            asyncio.run(drive(target, args.clients, 1.0))
        rss_start = {name: proc_status_kib(pid, "VmRSS") for name, pid in pids.items()}
        for round_number in range(args.rounds):
            shift = round_number % len(targets)
            for target in targets[shift:] + targets[:shift]:
                target.runs.append(asyncio.run(drive(target, args.clients, args.seconds)))
        mode = "stateless" if stateless else "stateful"
        print(f"{mode} ({args.clients} clients, {args.rounds} rounds of {args.seconds:g} s per target):")
        errors = sum(report(target)[1] for target in targets)
        for name, pid in pids.items():
            start, end = rss_start[name], proc_status_kib(pid, "VmRSS")
            print(
                f"  RSS {name:<20} {start / 1024:6.1f} -> {end / 1024:6.1f} MiB "
                f"({100 * (end - start) / start:+.1f}%)"
            )
    # Each round drives every target within seconds of the others: a ratio per round cancels the
    # drift of a shared machine that the rates across rounds carry.
    floor = targets[-1]
    assert floor.name == ECHO
    ratios: dict[str, float] = {}
    for target in targets[:-1]:
        per_round = [run.rate / base.rate for run, base in zip(target.runs, floor.runs, strict=True)]
        ratios[target.name] = statistics.median(per_round)
        print("  " + describe(f"ratio to echo, {target.name:<46}", per_round, "x", digits=2))
    return ratios, errors


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0, help="per target and round (default 2)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--modes", default="stateful,stateless")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}  # mode -> target -> ratio to the echo floor
    errors = 0
    with running_sandbox() as sandbox:
        base_url = sandbox.base_url
        for mode in args.modes.split(","):
            results[mode], mode_errors = bench_mode(base_url, mode == "stateless", args)
            errors += mode_errors
    verdicts = []
    for variant, label in (
        (CACHED, "default config (repeat lookups are cache hits)"),
        (UNCACHED_LOOKUP, "cache off (every call reaches the sandbox)"),
    ):
        ratios = {mode: results[mode][variant] for mode in results}
        worst = min(ratios, key=ratios.__getitem__)
        outcome = "met" if ratios[worst] >= GOAL else f"missed by {(1 - ratios[worst] / GOAL) * 100:.0f}%"
        verdicts.append(f"{label} {ratios[worst]:.2f}x ({worst}, {outcome})")
    if errors:
        print(f"load: {errors} calls failed; a load figure with errors means nothing", file=sys.stderr)
    print(
        f"ratio get_generation / echo floor calls/s, worst mode (goal >= {GOAL:.2f}x): " + "; ".join(verdicts)
    )
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
