"""Cost estimates' price over stdio: the same server with estimates on (the default) and off.

Two configurations of kushrouter-mcp against one sandbox (its own process, no injected latency),
both with the record cache off (KUSHROUTER_MCP_CACHE_SIZE=0) so every call is an uncached lookup
that gets priced afresh; "off" is KUSHROUTER_MCP_PRICES=off. Three measures, each a ratio of
medians measured side by side in this run:

1. The first get_generation after start: fresh processes every round (the order alternating),
   each initialized and then timed on its first lookup. With estimates on, that lookup also imports
   genai-prices (in a worker thread, while the upstream request is in flight) and waits for it, so
   it costs the import; this line has no goal, the extra milliseconds are reported.
2. Steady state: get_generation after warm-up, calls alternating between the two servers (which
   goes first alternating too), the ids cycling over the sandbox's seeded records (Chat
   Completions, Responses with cache reads, Anthropic Messages with cache reads and writes, a model
   no price list knows).
3. A 500-id get_generations batch (concurrency 8): the seeded records plus published ones, all
   found, so every record is priced; rounds alternate which server goes first.

Run: python bench/pricing.py [--rounds N] [--calls N] [--batch-ids N] [--batch-rounds N]
The last line is the batch's ratio, priced to not priced.
"""

from __future__ import annotations

import argparse
from statistics import median
from typing import Any

from _common import OURS, UNCACHED, StdioServer, describe, print_alternating, publish, server_env, verdict
from kushrouter_mcp.sandbox.processes import running_sandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, API_KEY_IDS, SEED_RECORDS

GOAL = 1.05
CONCURRENCY = 8
WARM_UP_CALLS = 20  # per server: the HTTP client, its connection and genai-prices loaded
# The seeded records alice may read: every endpoint's semantics, cache tokens, an unpriced model.
SEEDED = [gen_id for gen_id, record in SEED_RECORDS.items() if record["apiKeyId"] == API_KEY_IDS["alice"]]


def batch_ids(size: int) -> list[str]:
    """`size` ids, all found: the seeded records, then records the bench publishes."""
    if size < len(SEEDED):
        raise SystemExit(f"--batch-ids must be at least {len(SEEDED)} (the seeded records)")
    return SEEDED + [f"chatcmpl-pricing-bench-{n:03d}" for n in range(size - len(SEEDED))]


def envs(base_url: str) -> dict[str, dict[str, str]]:
    """Each configuration's environment: estimates on (default) or off, the cache off for both."""
    priced = {**server_env(base_url, ALICE_KEY), **UNCACHED}
    return {"priced": priced, "not priced": {**priced, "KUSHROUTER_MCP_PRICES": "off"}}


def check_record(record: dict[str, Any], priced: bool) -> None:
    """The bench times real answers: a record, with its estimate exactly when estimates are on."""
    assert ("estimated_cost" in record) is priced, record
    if priced and record["model"] in {"gpt-5-mini-2025-08-07", "claude-sonnet-4-5-20250929"}:
        assert record["estimated_cost"]["total"] is not None, record


def lookup(server: StdioServer, gen_id: str, priced: bool) -> float:
    seconds, result = server.timed_call("get_generation", {"id": gen_id})
    check_record(result["structuredContent"], priced)
    return seconds


def batch(server: StdioServer, ids: list[str], priced: bool) -> float:
    seconds, result = server.timed_call("get_generations", {"ids": ids})
    structured = result["structuredContent"]
    assert structured["counts"]["found"] == len(ids), structured["counts"]
    overall = structured["totals"]["overall"]
    if priced:  # every record priced but the one whose model no price list knows
        assert overall["estimated_cost_usd"] is not None, overall
        assert overall["unpriced"] == 1, overall
    for item in structured["results"][:: max(1, len(ids) // 10)]:
        check_record(item["generation"], priced)
    return seconds


def first_lookups(env: dict[str, dict[str, str]], rounds: int) -> dict[str, list[float]]:
    """Per configuration, the first get_generation of a fresh server, `rounds` times each."""
    samples: dict[str, list[float]] = {name: [] for name in env}
    names = list(env)
    for turn in range(rounds):
        for name in names[turn % 2 :] + names[: turn % 2]:
            with StdioServer(OURS, env[name]) as server:
                server.initialize()
                samples[name].append(lookup(server, SEEDED[0], name == "priced"))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=9, help="fresh servers of each kind (default 9)")
    parser.add_argument("--calls", type=int, default=300, help="steady-state calls each (default 300)")
    parser.add_argument("--batch-ids", type=int, default=500, help="ids in the batch (default 500)")
    parser.add_argument("--batch-rounds", type=int, default=7, help="batches each (default 7)")
    args = parser.parse_args()
    ids = batch_ids(args.batch_ids)
    steady: dict[str, list[float]] = {"priced": [], "not priced": []}
    batches: dict[str, list[float]] = {"priced": [], "not priced": []}
    with running_sandbox() as sandbox:
        publish(sandbox.base_url, ids[len(SEEDED) :])
        env = envs(sandbox.base_url)
        first = first_lookups(env, args.rounds)
        settings = {
            name: {**config, "KUSHROUTER_MCP_BATCH_CONCURRENCY": str(CONCURRENCY)}
            for name, config in env.items()
        }
        with (
            StdioServer(OURS, settings["priced"]) as priced,
            StdioServer(OURS, settings["not priced"]) as not_priced,
        ):
            servers = [("priced", priced), ("not priced", not_priced)]
            for _, server in servers:
                server.initialize()
            for n in range(WARM_UP_CALLS):
                for name, server in servers:
                    lookup(server, SEEDED[n % len(SEEDED)], name == "priced")
            for n in range(args.calls):  # which server goes first alternates too
                for name, server in servers[n % 2 :] + servers[: n % 2]:
                    steady[name].append(lookup(server, SEEDED[n % len(SEEDED)], name == "priced"))
            for name, server in servers:  # warm: the batch's path, its larger answers
                batch(server, ids, name == "priced")
            for turn in range(args.batch_rounds):
                for name, server in servers[turn % 2 :] + servers[: turn % 2]:
                    batches[name].append(batch(server, ids, name == "priced"))
    started_note = "fresh server: initialize, then its first get_generation"
    print(f"first lookup ({started_note}), {args.rounds} rounds each:")
    for name, times in first.items():
        print(describe(f"  {name:<10}", times, "ms", 1000))
    extra = (median(first["priced"]) - median(first["not priced"])) * 1000
    print(
        f"  first priced lookup costs {extra:.0f} ms more: importing genai-prices in a worker thread "
        "while the upstream request is in flight, and waiting for it"
    )
    print_alternating(steady, batches, WARM_UP_CALLS, len(ids), CONCURRENCY)
    print(
        f"first lookup after start: ours {median(first['priced']) * 1000:.1f} ms, "
        f"floor {median(first['not priced']) * 1000:.1f} ms -> ratio "
        f"{median(first['priced']) / median(first['not priced']):.2f}x (no goal: it pays the import)"
    )
    print(
        verdict(
            "priced lookup, steady state",
            median(steady["priced"]) * 1000,
            median(steady["not priced"]) * 1000,
            "ms",
            GOAL,
            digits=2,
        )
    )
    print(
        verdict(
            f"priced {len(ids)}-id batch",
            median(batches["priced"]) * 1000,
            median(batches["not priced"]) * 1000,
            "ms",
            GOAL,
        )
    )


if __name__ == "__main__":
    main()
