"""The ledger on PostgreSQL: its price on lookups, and usage_report over a million rows.

A throwaway PostgreSQL cluster of its own (kushrouter_mcp.sandbox.pg_cluster, as the tests use:
initdb in a temporary directory, a loopback port, fsync on as a real server has it), removed
afterwards.

1. Lookups, as bench/ledger.py measures the file: two servers over stdio against one sandbox, the
   record cache off so every call is an uncached lookup, estimates on for both; one writes its
   ledger to PostgreSQL (KUSHROUTER_MCP_LEDGER=postgresql://…), the other has it off (the floor).
   Calls alternate, which goes first alternating too: steady-state get_generation, then 500-id
   batches. Afterwards the database must hold every id looked up.
2. Reports: --records synthetic records (default 1,000,000, bench/ledger_scale.py's: 91 days, 20
   models, 3 endpoints, one key) made into rows by the ledger's own `ledger_row`, in a schema the
   ledger's own `for_writing` made, loaded with COPY (executemany would take minutes and time
   nothing the bench is about), then VACUUM ANALYZE, as autovacuum does after a bulk load. Each
   grouping timed through `Ledger.report` (best of --repeats) and once as a usage_report tool call
   to a real server; goal under 1 s each; every report checked against the generated sums.

Run: python bench/ledger_postgres.py [--calls N] [--batch-ids N] [--batch-rounds N] [--records N]
[--repeats N]. The last line is the get_generation ratio, PostgreSQL ledger on to off.
"""

from __future__ import annotations

import argparse
import time
from statistics import median
from typing import Any

import psycopg

from _common import OURS, UNCACHED, StdioServer, print_alternating, publish, server_env, verdict
from kushrouter_mcp.ledger.ledger import Ledger
from kushrouter_mcp.ledger.rows import COLUMNS, ledger_row
from kushrouter_mcp.sandbox.pg_cluster import PostgresCluster, running_cluster
from kushrouter_mcp.sandbox.processes import running_sandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY
from kushrouter_mcp.settings.database import DatabaseUrl
from kushrouter_mcp.settings.keys import ApiKey
from ledger import CONCURRENCY, SEEDED, WARM_UP_CALLS, batch_ids, measure
from ledger_scale import (
    GROUP_BYS,
    Expected,
    cut_line,
    print_report_runs,
    print_report_verdicts,
    synthetic_records,
    time_cut_reports,
    time_tool_calls,
)
from ledger_scale import time_reports as scale_time_reports

GOAL = 1.05
LABELS = ("postgresql ledger", "ledger off")


# --- 1. lookups -----------------------------------------------------------------------------------


def lookups(cluster: PostgresCluster, calls: int, batch_size: int, rounds: int) -> None:
    url = cluster.url(cluster.create_database("lookups"))
    ids = batch_ids(batch_size)
    with running_sandbox() as sandbox:
        publish(sandbox.base_url, ids[len(SEEDED) :])
        common = {**server_env(sandbox.base_url, ALICE_KEY), **UNCACHED}
        common["KUSHROUTER_MCP_BATCH_CONCURRENCY"] = str(CONCURRENCY)
        on = {**common, "KUSHROUTER_MCP_LEDGER": url}
        off = {**common, "KUSHROUTER_MCP_LEDGER": "off"}
        with StdioServer(OURS, on) as with_ledger, StdioServer(OURS, off) as without:
            servers = [(LABELS[0], with_ledger), (LABELS[1], without)]
            for _, server in servers:
                server.initialize()
            figures = measure(servers, calls, ids, rounds)
    # The servers have stopped, so every queued row is written (atexit) or the bench fails here.
    with psycopg.connect(url) as db:
        written = {row[0] for row in db.execute("SELECT id FROM generations")}
    missing = set(ids) - written
    assert not missing, f"{len(missing)} ids looked up are not in the database, e.g. {sorted(missing)[:3]}"
    steady, batches = figures["steady"], figures["batches"]
    print_alternating(steady, batches, WARM_UP_CALLS, len(ids), CONCURRENCY)
    figures["verdicts"] = [
        verdict(
            f"postgresql ledger on / off, {len(ids)}-id batch",
            median(batches[LABELS[0]]) * 1000,
            median(batches[LABELS[1]]) * 1000,
            "ms",
            GOAL,
        ),
        verdict(
            "postgresql ledger on / off, get_generation",
            median(steady[LABELS[0]]) * 1000,
            median(steady[LABELS[1]]) * 1000,
            "ms",
            GOAL,
            digits=2,
        ),
    ]
    for line in figures["verdicts"]:
        print(line)


# --- 2. reports over a million rows ------------------------------------------------------------------


def load(url: str, records: int) -> Expected:
    """The schema by the ledger's own writer path, then the rows (ledger_row's) by COPY."""
    ledger = Ledger(database=DatabaseUrl(url))
    store = ledger.backend.for_writing()
    identity = store.writer_identity(ApiKey(ALICE_KEY))
    ledger.backend.close()
    expected = Expected()
    keys: dict[str, set[tuple[Any, ...]]] = {"+".join(group_by): set() for group_by in GROUP_BYS}
    started = time.perf_counter()
    copying = f"COPY generations ({', '.join(COLUMNS)}) FROM STDIN"
    with psycopg.connect(url) as db, db.cursor() as cursor, cursor.copy(copying) as copy:
        for record, seen_at in synthetic_records(records, "ledger-bench", "ak_bench"):
            expected.add(record)
            values = {"day": record["created_at"] // 86400, **record}
            for name, seen in keys.items():
                seen.add(tuple(values[part] for part in name.split("+")))
            copy.write_row(ledger_row(identity, record, seen_at))
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("VACUUM ANALYZE generations")
        db.execute("VACUUM ANALYZE daily_sums")  # as autovacuum does after its triggers filled it
        (size,) = db.execute("SELECT pg_total_relation_size('generations')").fetchall()
    expected.groups = {name: len(seen) for name, seen in keys.items()}
    took = time.perf_counter() - started
    mib = size[0] / 2**20  # (one row)
    print(f"{records:,} rows loaded (COPY, VACUUM ANALYZE) in {took:.1f} s; table and indexes {mib:.0f} MiB")
    return expected


def time_reports(url: str, repeats: int, expected: Expected) -> dict[tuple[str, ...], list[float]]:
    """Each grouping through Ledger.report (one pool, as a server has), `repeats` times, checked,
    and the period cut at noon as ("cut",)."""
    ledger = Ledger(database=DatabaseUrl(url))
    try:
        times = scale_time_reports(ledger, repeats, expected)
        times[("cut",)] = time_cut_reports(ledger, repeats, expected)
    finally:
        ledger.backend.close()
    return times


def reports(cluster: PostgresCluster, records: int, repeats: int) -> None:
    url = cluster.url(cluster.create_database("reports"))
    expected = load(url, records)
    api = time_reports(url, repeats, expected)
    tool = time_tool_calls(url, expected)
    print(f"usage_report on PostgreSQL over {records:,} records of one key:")
    print_report_runs(api, tool)
    print(cut_line(f"postgresql Ledger.report, {records:,} records", api[("cut",)]))
    print_report_verdicts("postgresql ", records, repeats, api, tool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300, help="steady-state calls each (default 300)")
    parser.add_argument("--batch-ids", type=int, default=500, help="ids in the batch (default 500)")
    parser.add_argument("--batch-rounds", type=int, default=7, help="batches each (default 7)")
    parser.add_argument(
        "--records", type=int, default=1_000_000, help="rows for the reports (default 1,000,000)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="Ledger.report runs per grouping (default 5)")
    args = parser.parse_args()
    with running_cluster(durable=True) as cluster:
        print(f"PostgreSQL cluster: {cluster.bin_dir}, port {cluster.port}, fsync on")
        reports(cluster, args.records, args.repeats)
        lookups(cluster, args.calls, args.batch_ids, args.batch_rounds)


if __name__ == "__main__":
    main()
