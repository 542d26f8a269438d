"""Several HTTP replicas, one PostgreSQL ledger: real server processes on their own ports, the sandbox
upstream, a real cluster (tests/pg_cluster.py) that a test stops and starts again.

- two replicas write into one database, and a report from either counts every row;
- per-request mode keeps each caller's rows apart across replicas; server-key mode reports the
  shared key's rows, whichever replica wrote them;
- the database stopped in the middle of a run: every lookup is answered, in time, /healthz stays 200
  and says `degraded` then `ok`, and afterwards every row is there;
- a replica started while the database is down serves, warns, and writes its rows once it is up;
- rows queued while the database was down are written on SIGTERM once it is back;
- the database's password is in no log line (at DEBUG), no /healthz answer and no error.

Expected sums are computed from the records the test published and the estimates the lookups
answered with (test_ledger_e2e's helpers), never read back from a report.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from conftest import PgDatabase, StartProcess, server_env
from http_helpers import bearer_client, wait_exit
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, BOB_KEY
from test_ledger_e2e import (
    SINCE,
    UNTIL,
    assert_report,
    estimates_of,
    output_schema,
    publish_period,
    report_of,
)

pytestmark = pytest.mark.anyio

GRACE = 10
# What a lookup may take while the database is down: the sandbox answers in milliseconds, and the
# ledger is off the lookup's path, so anything near the pool's 5 s wait would mean it is not.
# What a replica's ledger says when the database stops: the connection refused, or a write under way
# cut off by the shutdown.
DATABASE_GONE = ("Connection refused", "terminating connection due to administrator command")
LOOKUP_LIMIT = 1.5


class Replica:
    """One server process of the test: its port, its log, its process."""

    def __init__(self, started: tuple[Any, int, Path]) -> None:
        self.process, self.port, self.log = started

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    async def health(self) -> dict[str, Any]:
        """The ledger part of /healthz, which must be 200 whatever the ledger's state."""
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(f"http://127.0.0.1:{self.port}/healthz")
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "ok"
        self.health_answers.append(answer.text)
        return answer.json()["ledger"]  # type: ignore[no-any-return]

    health_answers: list[str]

    async def until_state(self, state: str, within: float, pending: int | None = None) -> dict[str, Any]:
        """/healthz's ledger once it is in `state` (with `pending` rows waiting, if given)."""
        with anyio.fail_after(within):
            while True:
                health = await self.health()
                if health["state"] == state and pending in (None, health["pending_rows"]):
                    return health
                await anyio.sleep(0.1)


async def settled(*group: Replica) -> None:
    """Each replica has written what it queued: a report from one counts the others' rows (a report
    writes out its own replica's queue first, not the others')."""
    for replica in group:
        await replica.until_state("ok", within=20, pending=0)


def replicas(
    start: StartProcess,
    sandbox: RunningSandbox,
    database: PgDatabase,
    count: int,
    key: str | None,
    **env: str,
) -> list[Replica]:
    """`count` stateless replicas on ports of their own, the ledger in `database`, logging at DEBUG."""
    settings = server_env(
        sandbox.base_url, key, KUSHROUTER_MCP_LEDGER=database.url, KUSHROUTER_MCP_LOG_LEVEL="DEBUG", **env
    )
    made = []
    for _ in range(count):
        replica = Replica(start(settings, "--stateless", "--graceful-timeout", str(GRACE)))
        replica.health_answers = []
        made.append(replica)
    return made


@asynccontextmanager
async def client_of(replica: Replica, bearer: str | None = None) -> AsyncIterator[Client]:
    async with bearer_client(replica.url, bearer) as client:
        yield client


async def look_up(client: Client, records: Iterable[dict[str, Any]]) -> dict[str, float | None]:
    """Each record by get_generation; the estimate each came back with."""
    answered = []
    for record in records:
        result = await client.call_tool("get_generation", {"id": record["id"]})
        assert not result.is_error, result.content
        answered.append(result.structured_content)
    return estimates_of(answered)  # type: ignore[arg-type]


def database_rows(database: PgDatabase) -> dict[str, bytes]:
    """Every row's id and key identity, read by a connection of the test's own."""
    import psycopg

    with psycopg.connect(database.url, connect_timeout=10) as connection:
        return {gen_id: bytes(identity) for gen_id, identity in connection.execute(
            "SELECT id, key_identity FROM generations"
        )}  # fmt: skip


def assert_no_password(database: PgDatabase, *texts: str) -> None:
    password = database.cluster.password
    for text in texts:
        assert password not in text, "the database password leaked"


# --- Two replicas, one history -----------------------------------------------------------------------


async def test_two_replicas_write_into_one_database_and_a_report_from_either_counts_every_row(
    sandbox: RunningSandbox, server_process: StartProcess, pg_database: PgDatabase
) -> None:
    first, second = replicas(server_process, sandbox, pg_database, 2, ALICE_KEY)
    records = publish_period(sandbox, 16, seed=41)
    async with client_of(first) as a, client_of(second) as b:
        costs = await look_up(a, records[:9])
        result = await b.call_tool("get_generations", {"ids": [r["id"] for r in records[9:]]})
        assert not result.is_error
        costs |= estimates_of(item["generation"] for item in result.structured_content["results"])
        await settled(first, second)
        schema = await output_schema(a, "usage_report")
        for client in (a, b):
            for group_by in (["day", "model"], ["endpoint"], []):
                report, _ = await report_of(client, schema, since=SINCE, until=UNTIL, group_by=group_by)
                assert_report(report, records, costs, group_by)
    rows = database_rows(pg_database)
    assert set(rows) == {r["id"] for r in records}
    assert len(set(rows.values())) == 1, "server-key mode: every row is the shared key's"
    assert_no_password(pg_database, first.log.read_text(), second.log.read_text())


async def test_per_request_callers_stay_apart_across_replicas(
    sandbox: RunningSandbox, server_process: StartProcess, pg_database: PgDatabase
) -> None:
    first, second = replicas(
        server_process, sandbox, pg_database, 2, None, KUSHROUTER_MCP_KEY_MODE="per-request"
    )
    alices = publish_period(sandbox, 8, seed=42, owner="alice")
    bobs = publish_period(sandbox, 5, seed=43, owner="bob")
    async with client_of(first, ALICE_KEY) as alice_on_a:
        alice_costs = await look_up(alice_on_a, alices)
    async with client_of(second, BOB_KEY) as bob_on_b:
        bob_costs = await look_up(bob_on_b, bobs)
    await settled(first, second)
    async with client_of(second, ALICE_KEY) as alice_on_b, client_of(first, BOB_KEY) as bob_on_a:
        schema = await output_schema(alice_on_b, "usage_report")
        for group_by in (["model"], ["day", "endpoint"]):
            # Alice, on the replica she never used, sees exactly her rows, written by the other one.
            report, _ = await report_of(alice_on_b, schema, since=SINCE, until=UNTIL, group_by=group_by)
            assert_report(report, alices, alice_costs, group_by)
            report, _ = await report_of(bob_on_a, schema, since=SINCE, until=UNTIL, group_by=group_by)
            assert_report(report, bobs, bob_costs, group_by)
    rows = database_rows(pg_database)
    assert set(rows) == {r["id"] for r in [*alices, *bobs]}
    assert len({rows[r["id"]] for r in alices}) == 1 and len({rows[r["id"]] for r in bobs}) == 1
    assert rows[alices[0]["id"]] != rows[bobs[0]["id"]]
    for replica in (first, second):
        text = replica.log.read_text()
        assert ALICE_KEY not in text and BOB_KEY not in text
        assert_no_password(pg_database, text)


# --- The database goes away and comes back -----------------------------------------------------------


async def test_the_database_stopped_mid_run_costs_no_lookup_and_no_row(
    sandbox: RunningSandbox, server_process: StartProcess, pg_database: PgDatabase
) -> None:
    group = replicas(server_process, sandbox, pg_database, 2, ALICE_KEY)
    records = publish_period(sandbox, 60, seed=44)
    latencies: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    phase = "before"
    costs: dict[str, float | None] = {}
    errors: list[str] = []
    during: dict[str, Any] = {}

    async def keep_looking_up(client: Client, mine: list[dict[str, Any]]) -> None:
        for record in mine:
            started, started_in = time.monotonic(), phase
            result = await client.call_tool("get_generation", {"id": record["id"]})
            latencies[started_in].append(time.monotonic() - started)
            if result.is_error:
                errors.append(str(result.content))
            else:
                costs.update(estimates_of([result.structured_content]))  # type: ignore[list-item]
            await anyio.sleep(0.1)

    async with client_of(group[0]) as a, client_of(group[1]) as b:
        for client in (a, b):  # a client's first call fetches the tools' schemas: not a lookup's time
            costs |= await look_up(client, records[:1])
        async with anyio.create_task_group() as lookups:
            lookups.start_soon(keep_looking_up, a, records[2::2])
            lookups.start_soon(keep_looking_up, b, records[1::2])
            await anyio.sleep(1)
            await anyio.to_thread.run_sync(pg_database.cluster.stop)
            phase = "during"
            for replica in group:
                health = await replica.until_state("degraded", within=20)
                assert health["backend"] == "postgresql" and health["pending_rows"] >= 1, health
                # Refused, or cut off by the shutdown if a write was under way when it began.
                assert health["problem"] and any(gone in health["problem"] for gone in DATABASE_GONE), health
                during[replica.url] = health
            report = await a.call_tool("usage_report", {"since": SINCE, "until": UNTIL})
            during["report"] = "\n".join(block.text for block in report.content)  # type: ignore[union-attr]
            text = during["report"]  # a report needs the database: an error saying so, lookups go on
            assert report.is_error and "The usage report failed" in text and "Connection refused" in text, (
                text
            )
            assert "lookups work meanwhile" in text and "Traceback" not in text, text
            await anyio.to_thread.run_sync(pg_database.cluster.start)
            phase = "after"
        # Every lookup is made; the rows that waited are written by each writer's own next try
        # (its pause is 15 s at most, a try 5 s), no flush asked for.
        for replica in group:
            health = await replica.until_state("ok", within=40, pending=0)
            assert health == {
                "state": "ok", "backend": "postgresql", "pending_rows": 0, "dropped_rows": 0, "problem": None
            }  # fmt: skip
        assert set(database_rows(pg_database)) == {r["id"] for r in records}
        schema = await output_schema(b, "usage_report")
        report_after, _ = await report_of(b, schema, since=SINCE, until=UNTIL, group_by=["model"])
        assert_report(report_after, records, costs, ["model"])

    assert errors == [], errors
    assert latencies["during"], "lookups were made while the database was down"
    assert max(latencies["during"]) < LOOKUP_LIMIT, latencies["during"]
    assert statistics.median(latencies["during"]) < 5 * statistics.median(latencies["before"]) + 0.05
    logs = [replica.log.read_text() for replica in group]
    for log in logs:
        # One warning per distinct problem, not one per try: perhaps a write cut off by the shutdown,
        # refused while it is down, perhaps, as it comes back, the pool's own reconnection still pending.
        problems = [
            line.split("can't be written", 1)[1] for line in log.splitlines() if "can't be written" in line
        ]
        assert problems and len(problems) == len(set(problems)) <= 3, problems
        assert "is written again" in log and "Traceback" not in log
        assert " DEBUG " in log, "the servers logged at DEBUG"
    assert_no_password(pg_database, *logs, during["report"], *(a for r in group for a in r.health_answers))


async def test_a_replica_started_with_the_database_down_serves_and_writes_once_it_is_up(
    sandbox: RunningSandbox, server_process: StartProcess, pg_database: PgDatabase
) -> None:
    pg_database.cluster.stop()
    (replica,) = replicas(server_process, sandbox, pg_database, 1, ALICE_KEY)
    records = publish_period(sandbox, 4, seed=45)
    async with client_of(replica) as client:
        with anyio.fail_after(len(records) * LOOKUP_LIMIT):
            await look_up(client, records)
    health = await replica.until_state("degraded", within=20)
    assert health["pending_rows"] == len(records), health
    assert "can't be written" in replica.log.read_text()
    pg_database.cluster.start()
    await replica.until_state("ok", within=40, pending=0)  # `ok` once a write works; then the rest
    assert set(database_rows(pg_database)) == {r["id"] for r in records}
    assert_no_password(pg_database, replica.log.read_text(), *replica.health_answers)


async def test_rows_queued_while_the_database_was_down_are_written_on_sigterm_once_it_is_back(
    sandbox: RunningSandbox, server_process: StartProcess, pg_database: PgDatabase
) -> None:
    (replica,) = replicas(server_process, sandbox, pg_database, 1, ALICE_KEY)
    records = publish_period(sandbox, 6, seed=46)
    async with client_of(replica) as client:
        await look_up(client, records[:1])  # the pool is open, the schema made
        await replica.until_state("ok", within=20, pending=0)
        pg_database.cluster.stop()
        await look_up(client, records[1:])
    await replica.until_state("degraded", within=20)
    await anyio.sleep(6)  # the writer's pause grows past the moment the database is back
    pg_database.cluster.start()
    signalled = time.monotonic()
    assert await wait_exit(replica.process) == 0, replica.log.read_text()
    assert time.monotonic() - signalled < GRACE + 2.5
    assert set(database_rows(pg_database)) == {r["id"] for r in records}
    log = replica.log.read_text()
    assert "not written in time" not in log and "is written again" in log, log
    assert_no_password(pg_database, log)


async def test_a_row_postgresql_refuses_is_left_out_without_holding_up_the_others(
    sandbox: RunningSandbox, server_process: StartProcess, pg_database: PgDatabase
) -> None:
    (replica,) = replicas(server_process, sandbox, pg_database, 1, ALICE_KEY)
    records = publish_period(sandbox, 5, seed=47)
    bad = records[2]
    sandbox.state.publish(bad["id"], model="gpt-5\x00mini")  # PostgreSQL text holds no NUL character
    async with client_of(replica) as client:
        for record in records:
            result = await client.call_tool("get_generation", {"id": record["id"]})
            assert not result.is_error, result.content  # the lookup itself is answered, NUL and all
    health = await replica.until_state("ok", within=60, pending=0)
    assert health["dropped_rows"] == 1, health
    assert set(database_rows(pg_database)) == {r["id"] for r in records} - {bad["id"]}
    (refused,) = [line for line in replica.log.read_text().splitlines() if "refused the row" in line]
    assert bad["id"] in refused and "NUL" in refused, refused
