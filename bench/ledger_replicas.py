"""Two HTTP replicas writing one PostgreSQL ledger, under load: calls/s with the ledger on and off,
and every lookup a row.

Starts the sandbox, a throwaway PostgreSQL cluster (kushrouter_mcp.sandbox.pg_cluster, fsync on as
a real server has it) and four server processes on loopback, stateless and with an access token, as
replicas behind a load balancer are: two write their ledger into one database, two have it off.
The record cache is off and every call asks for an id never asked for before (`sandbox-slow-0.<n>`:
the sandbox answers it with a record of that id, after a pause of well under a microsecond), so
every call reaches the sandbox and, with the ledger on, makes a row of its own.

bench/load.py's clients (raw JSON-RPC over HTTP; --clients of them, half on each replica, as a load
balancer would spread them) drive one pair, then the other, in rounds of --seconds / --rounds, which
pair goes first alternating, until each pair has had --seconds (default 30). Prints each pair's
calls/s (the median round, and each round), p50/p99 latency, errors (any error fails the bench), the
on/off ratio per round; then, the replicas stopped with SIGTERM (which writes out their queues), the
rows in the database against the lookups the ledger-on pair answered: they must be equal.

Run: python bench/ledger_replicas.py [--clients 8] [--seconds 30] [--rounds 6] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from contextlib import ExitStack
from typing import Any

import psycopg

from _common import BENCH, OURS, UNCACHED, describe, server_env
from kushrouter_mcp.sandbox.pg_cluster import running_cluster
from kushrouter_mcp.sandbox.processes import free_port, running_sandbox, running_server
from kushrouter_mcp.sandbox.samples import ALICE_KEY
from load import TOKEN, Run, Target, drive, report

ON, OFF = "two replicas, postgresql ledger", "two replicas, ledger off"


class FreshIds:
    """Arguments for get_generation with an id never asked for before, counted."""

    def __init__(self) -> None:
        self.issued = 0

    def __call__(self) -> dict[str, Any]:
        self.issued += 1
        # The sandbox's slow id: a record of this very id after `0.<n>` seconds, here under 1e-6 s.
        return {"id": f"sandbox-slow-0.{self.issued:012d}"}


def start_pair(stack: ExitStack, base_url: str, ledger: str, ids: FreshIds) -> list[Target]:
    """Two replicas (stopped with `stack`), as one target each."""
    env = {**server_env(base_url, ALICE_KEY), **UNCACHED, "KUSHROUTER_MCP_TOKENS": TOKEN}
    env["KUSHROUTER_MCP_LEDGER"] = ledger
    targets = []
    for _ in range(2):
        port = free_port()
        argv = [*OURS, "--transport", "http", "--port", str(port), "--stateless"]
        server = stack.enter_context(
            running_server(argv, port, env, timeout=30, stop_timeout=30, cwd=BENCH.parent)
        )
        auth = {"Authorization": f"Bearer {TOKEN}"}
        targets.append(Target(ledger, server.url, auth, "get_generation", {}, next_arguments=ids))
    return targets


async def drive_pair(targets: list[Target], clients: int, seconds: float) -> Run:
    """Both replicas at once, half the clients each: one run of the pair."""
    runs = await asyncio.gather(*(drive(target, max(1, clients // 2), seconds) for target in targets))
    return Run(
        calls=sum(run.calls for run in runs),
        errors=sum(run.errors for run in runs),
        seconds=max(run.seconds for run in runs),
        latencies=[latency for run in runs for latency in run.latencies],
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0, help="per pair, all rounds (default 30)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="a smoke run (run_all --quick): 2 s, 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.seconds, args.rounds = 4, 2.0, 2
    ids = {ON: FreshIds(), OFF: FreshIds()}
    pairs = {ON: Target(ON, "", {}, "", {}), OFF: Target(OFF, "", {}, "", {})}  # each round's run
    with running_sandbox() as sandbox, running_cluster(durable=True) as cluster:
        url = cluster.url(cluster.create_database("replicas"))
        with ExitStack() as stack:
            replicas = {
                ON: start_pair(stack, sandbox.base_url, url, ids[ON]),
                OFF: start_pair(stack, sandbox.base_url, "off", ids[OFF]),
            }
            for name in pairs:  # warm up: imports, connections, the pool, the schema
                asyncio.run(drive_pair(replicas[name], args.clients, 1.0 if not args.quick else 0.5))
            for round_number in range(args.rounds):
                order = [ON, OFF] if round_number % 2 == 0 else [OFF, ON]
                for name in order:
                    run = asyncio.run(drive_pair(replicas[name], args.clients, args.seconds / args.rounds))
                    pairs[name].runs.append(run)
            # Leaving the block stops the replicas with SIGTERM: each writes out its queue first.
        with psycopg.connect(url) as db:
            (rows,) = db.execute("SELECT count(*) FROM generations").fetchone() or (0,)
    each = args.seconds / args.rounds
    print(f"{args.clients} clients, half on each replica, {args.rounds} rounds of {each:g} s per pair:")
    rates = {name: report(pair)[0] for name, pair in pairs.items()}
    errors = sum(run.errors for pair in pairs.values() for run in pair.runs)
    per_round = [on.rate / off.rate for on, off in zip(pairs[ON].runs, pairs[OFF].runs, strict=True)]
    print("  " + describe("ratio on / off per round", per_round, "x", digits=2))
    lookups = ids[ON].issued  # every call of the ledger-on pair, warm-up included, a new id
    print(
        f"two replicas, calls/s, postgresql ledger on / off: ours {rates[ON]:.1f} calls/s, floor "
        f"{rates[OFF]:.1f} calls/s -> ratio {statistics.median(per_round):.2f}x (no goal: throughput, "
        "higher is better; a lookup's own price has its goal in ledger_postgres.py)"
    )
    if errors:
        print(f"ledger_replicas: {errors} calls failed; a load figure with errors means nothing")
    outcome = "met" if rows == lookups and not errors else f"missed by {lookups - rows} rows"
    print(
        f"rows written / lookups made, postgresql ledger: {rows} rows (goal = {lookups} lookups, {outcome})"
    )
    if outcome != "met":
        raise SystemExit(1)


if __name__ == "__main__":
    main()
