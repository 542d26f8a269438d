"""The usage ledger's price on lookups over stdio: the same server with the ledger on and off.

Two configurations of kushrouter-mcp against one sandbox (its own process, no injected latency),
both with the record cache off (KUSHROUTER_MCP_CACHE_SIZE=0) so every call is an uncached lookup
whose record is queued for the ledger afresh, estimates on for both: the ledger on (a file in a
temporary directory, written by the server's writer thread) and KUSHROUTER_MCP_LEDGER=off, the
floor. Both run at once; calls alternate between them, which goes first alternating too.

1. Steady state: get_generation after warm-up, the ids cycling over the sandbox's seeded records.
2. A 500-id get_generations batch (concurrency 8), all found, so 500 rows queued per call.
3. Server CPU per lookup during the steady state, read from /proc: the writer thread runs after
   the answer has gone, so part of its cost lands while the other server is being timed; this
   figure counts all of it against the server that pays it.

Afterwards the ledger file must hold every id looked up (the bench times real writes, not a writer
that failed). Run: python bench/ledger.py [--calls N] [--batch-ids N] [--batch-rounds N]
The last line is the batch's ratio, ledger on to off. bench/ledger_scale.py measures reports over a
million records and several processes writing one file.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median
from typing import Any

from _common import OURS, UNCACHED, StdioServer, print_alternating, publish, server_env, verdict
from kushrouter_mcp.sandbox.processes import running_sandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, API_KEY_IDS, SEED_RECORDS

GOAL = 1.05
CONCURRENCY = 8
WARM_UP_CALLS = 20  # per server: the HTTP client and its connection, genai-prices, sqlite3 and the file
SEEDED = [gen_id for gen_id, record in SEED_RECORDS.items() if record["apiKeyId"] == API_KEY_IDS["alice"]]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def batch_ids(size: int) -> list[str]:
    """`size` ids, all found: the seeded records, then records the bench publishes."""
    if size < len(SEEDED):
        raise SystemExit(f"--batch-ids must be at least {len(SEEDED)} (the seeded records)")
    return SEEDED + [f"chatcmpl-ledger-bench-{n:03d}" for n in range(size - len(SEEDED))]


def envs(base_url: str, ledger_path: Path) -> dict[str, dict[str, str]]:
    """Each configuration's environment: the ledger on (a file of its own) or off, the cache off."""
    common = {
        **server_env(base_url, ALICE_KEY),
        **UNCACHED,
        "KUSHROUTER_MCP_BATCH_CONCURRENCY": str(CONCURRENCY),
    }
    return {
        "ledger on": {**common, "KUSHROUTER_MCP_LEDGER": str(ledger_path)},
        "ledger off": {**common, "KUSHROUTER_MCP_LEDGER": "off"},
    }


def lookup(server: StdioServer, gen_id: str) -> float:
    seconds, result = server.timed_call("get_generation", {"id": gen_id})
    assert result["structuredContent"]["id"] == gen_id, result  # a real answer, not an error
    return seconds


def batch(server: StdioServer, ids: list[str]) -> float:
    seconds, result = server.timed_call("get_generations", {"ids": ids})
    counts = result["structuredContent"]["counts"]
    assert counts["found"] == len(ids), counts
    return seconds


def cpu_seconds(server: StdioServer) -> float:
    """User + system CPU the server process has used so far (all its threads), from /proc."""
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15)


def ids_in_ledger(path: Path) -> set[str]:
    """Every id the ledger file holds (a plain read: the servers have stopped)."""
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT id FROM generations")}


@contextmanager
def two_servers(env: dict[str, dict[str, str]]) -> Iterator[list[tuple[str, StdioServer]]]:
    with StdioServer(OURS, env["ledger on"]) as on, StdioServer(OURS, env["ledger off"]) as off:
        servers = [("ledger on", on), ("ledger off", off)]
        for _, server in servers:
            server.initialize()
        yield servers


def in_turn(servers: list[tuple[str, StdioServer]], turn: int) -> list[tuple[str, StdioServer]]:
    """Both servers, the one going first alternating with `turn`."""
    return servers[turn % 2 :] + servers[: turn % 2]


def measure(
    servers: list[tuple[str, StdioServer]], calls: int, ids: list[str], rounds: int
) -> dict[str, Any]:
    steady: dict[str, list[float]] = {name: [] for name, _ in servers}
    cpu: dict[str, float] = {}
    batches: dict[str, list[float]] = {name: [] for name, _ in servers}
    for n in range(WARM_UP_CALLS):
        for _, server in servers:
            lookup(server, SEEDED[n % len(SEEDED)])
    cpu_before = {name: cpu_seconds(server) for name, server in servers}
    for n in range(calls):
        for name, server in in_turn(servers, n):
            steady[name].append(lookup(server, SEEDED[n % len(SEEDED)]))
    for name, server in servers:
        cpu[name] = (cpu_seconds(server) - cpu_before[name]) / calls
    for _, server in servers:  # warm: the batch's path, its larger answers, 500-row writes
        batch(server, ids)
    for turn in range(rounds):
        for name, server in in_turn(servers, turn):
            batches[name].append(batch(server, ids))
    return {"steady": steady, "cpu": cpu, "batches": batches}


def report(figures: dict[str, Any], ids: list[str]) -> None:
    steady, cpu, batches = figures["steady"], figures["cpu"], figures["batches"]
    print_alternating(steady, batches, WARM_UP_CALLS, len(ids), CONCURRENCY)
    print(
        f"ledger on / off, server CPU per lookup: ours {cpu['ledger on'] * 1000:.2f} ms, "
        f"floor {cpu['ledger off'] * 1000:.2f} ms -> ratio {cpu['ledger on'] / cpu['ledger off']:.2f}x "
        f"(no goal: /proc, {1000 / CLOCK_TICKS:.0f} ms ticks, writer thread included)"
    )
    on, off = median(steady["ledger on"]) * 1000, median(steady["ledger off"]) * 1000
    print(verdict("ledger on / off, get_generation", on, off, "ms", GOAL, digits=2))
    on, off = median(batches["ledger on"]) * 1000, median(batches["ledger off"]) * 1000
    print(verdict(f"ledger on / off, {len(ids)}-id batch", on, off, "ms", GOAL))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300, help="steady-state calls each (default 300)")
    parser.add_argument("--batch-ids", type=int, default=500, help="ids in the batch (default 500)")
    parser.add_argument("--batch-rounds", type=int, default=7, help="batches each (default 7)")
    args = parser.parse_args()
    ids = batch_ids(args.batch_ids)
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as directory, running_sandbox() as sandbox:
        ledger_path = Path(directory) / "ledger.sqlite3"
        publish(sandbox.base_url, ids[len(SEEDED) :])
        with two_servers(envs(sandbox.base_url, ledger_path)) as servers:
            figures = measure(servers, args.calls, ids, args.batch_rounds)
        # The servers have stopped, so every queued row is written (atexit) or the bench fails here.
        missing = set(ids) - ids_in_ledger(ledger_path)
        assert not missing, f"{len(missing)} ids looked up are not in the ledger, e.g. {sorted(missing)[:3]}"
    report(figures, ids)


if __name__ == "__main__":
    main()
