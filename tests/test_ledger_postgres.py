"""The ledger on PostgreSQL, against a real throwaway cluster (fixtures `pg_cluster`, `pg_database`).

The backend-neutral suite runs on both backends (`store` is parametrized over a SQLite file and a
PostgreSQL database): rows, upserts, times, every report grouping, exports, spans, the rows --refresh
wants; and one test writes the same records into both and compares every answer. Then what only a
shared database has to face: replicas creating the schema at once, a newer schema, an old one
upgraded, identities equal across processes, and the password nowhere (logs at DEBUG, errors, files).
Expected values are worked out here from the records each test writes.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout

from conftest import LEAK_CANARY, PgDatabase, server_env
from kushrouter_mcp.ledger import Ledger
from kushrouter_mcp.ledger.postgres import PostgresBackend
from kushrouter_mcp.ledger.sql import MIGRATIONS, SCHEMA_VERSION, Dialect
from kushrouter_mcp.ledger.sqlite import SqliteLedgerFile
from kushrouter_mcp.records.models import USAGE_FIELDS
from kushrouter_mcp.reports.periods import Period
from kushrouter_mcp.reports.report import GroupSums, build_report, day_number
from kushrouter_mcp.sandbox.processes import free_port, kushrouter_command
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, CHAT_ID, RESPONSES_ID
from kushrouter_mcp.settings.config import ConfigError, Settings
from kushrouter_mcp.settings.database import DatabaseUrl
from kushrouter_mcp.settings.keys import ApiKey
from ledger_records import Clock, record

EVERYTHING = Period(datetime(1970, 1, 2, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
KEY = ApiKey(LEAK_CANARY)
OTHER_KEY = ApiKey("kr_live_other_0a1b2c3d4e5f6a7b8c9d")
CANNOT_WRITE = "can't be written"


# --- Both backends -----------------------------------------------------------------------------------


@dataclass
class Store:
    """One backend for a test: new Ledger objects on it, and its rows read behind the Ledger's back."""

    kind: str
    location: Path | DatabaseUrl
    made: list[Ledger]

    def ledger(self, clock: Callable[[], float] | None = None) -> Ledger:
        clock = clock or Clock()
        if isinstance(self.location, DatabaseUrl):
            made = Ledger(clock=clock, backend=PostgresBackend(self.location))
        else:
            made = Ledger(self.location, clock)
        self.made.append(made)
        return made

    def rows(self) -> dict[str, dict[str, Any]]:
        """Every row by id (the test's own connection)."""
        if isinstance(self.location, DatabaseUrl):
            with psycopg.connect(self.location.reveal()) as db:
                cursor = db.execute("SELECT * FROM generations")
                names = [column.name for column in cursor.description or []]
                return {row[1]: dict(zip(names, row, strict=True)) for row in cursor}
        with sqlite3.connect(f"file:{self.location}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            found = {row["id"]: dict(row) for row in db.execute("SELECT * FROM generations")}
        db.close()
        return found

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        """A query of the test's own, committed."""
        if isinstance(self.location, DatabaseUrl):
            with psycopg.connect(self.location.reveal()) as db:
                cursor = db.execute(query)
                return list(cursor) if cursor.description else []
        with sqlite3.connect(self.location) as db:
            found = list(db.execute(query))
        db.close()
        return found


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    if kind == "postgresql":
        database: PgDatabase = request.getfixturevalue("pg_database")
        return Store(kind, DatabaseUrl(database.url), [])
    return Store(kind, tmp_path / "ledger.sqlite3", [])


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made = make_store(request.param, tmp_path, request)
    yield made
    for ledger in made.made:
        ledger.close()


def written(ledger: Ledger, key: ApiKey, *records: dict[str, Any]) -> None:
    for one in records:
        ledger.record(key, one)
    assert ledger.flush(15), "the writer caught up"
    assert ledger.problem is None, ledger.problem


def written_at_once(ledgers: list[Ledger], rows: list[tuple[ApiKey, dict[str, Any]]]) -> None:
    """Each ledger writes its row at the same time as the others (one thread each); all written."""
    threads = [
        threading.Thread(target=written, args=(one, *row)) for one, row in zip(ledgers, rows, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(one.problem is None and one.dropped == 0 for one in ledgers), [one.problem for one in ledgers]


def test_recorded_rows_land_with_their_fields(store: Store) -> None:
    clock = Clock()
    sent = [
        record("gen-a"),
        record("gen-b", model="claude-x", endpoint="anthropic.messages", status="in_progress", cost=None),
        {"id": "gen-c"},
    ]
    written(store.ledger(clock), KEY, *sent)
    found = store.rows()
    assert set(found) == {"gen-a", "gen-b", "gen-c"}
    for one in sent:
        row = found[one["id"]]
        assert json.loads(row["record"]) == one
        assert (row["model"], row["endpoint"], row["status"]) == (
            one.get("model"), one.get("endpoint"), one.get("status"),
        )  # fmt: skip
        assert row["final"] == (0 if one.get("status") == "in_progress" else 1)
        usage = one.get("usage", {})
        assert {name: row[name] for name in USAGE_FIELDS} == {
            name: usage.get(name, 0) for name in USAGE_FIELDS
        }
        assert row["cost_usd"] == (one.get("estimated_cost") or {}).get("total")
        assert row["first_seen"] == row["last_seen"] == clock.now
        assert len(bytes(row["key_identity"])) == 16 and LEAK_CANARY.encode() not in bytes(
            row["key_identity"]
        )


def test_a_record_seen_again_is_updated_keeping_when_first_seen_and_its_time_unless_it_has_one(
    store: Store,
) -> None:
    clock = Clock(1_800_000_000.0)
    ledger = store.ledger(clock)
    written(ledger, KEY, record("gen-a", status="in_progress", cost=None), record("gen-t", created_at=None))
    clock.now += 2 * 86400
    later = record("gen-a", status="completed", cost=0.25, model="gpt-5")
    written(ledger, KEY, later, record("gen-t", created_at=None))
    row, timeless = store.rows()["gen-a"], store.rows()["gen-t"]
    assert row["first_seen"] == 1_800_000_000.0 and row["last_seen"] == clock.now
    assert (row["status"], row["final"], row["model"], row["cost_usd"]) == ("completed", 1, "gpt-5", 0.25)
    assert timeless["at"] == 1_800_000_000.0 and timeless["day"] == 1_800_000_000 // 86400
    written(ledger, KEY, record("gen-t", created_at=1731753062))
    assert store.rows()["gen-t"]["at"] == 1731753062 and store.rows()["gen-t"]["day"] == 1731753062 // 86400


# A data set every grouping has something to say about: two keys, three days, models and endpoints
# (one missing), a row not priced, a row not final.
DAY = 86400
BASE = 1_731_715_200  # 2024-11-16T00:00:00Z


def data_set() -> list[tuple[ApiKey, dict[str, Any]]]:
    made = []
    for n in range(24):
        key = KEY if n % 3 else OTHER_KEY
        fields: dict[str, Any] = {
            "model": ["gpt-5", "claude-x", "gemini-y"][n % 3] if n % 7 else None,
            "endpoint": ["openai.chat.completions", "anthropic.messages"][n % 2],
            "usage": {"prompt_tokens": 100 + n, "completion_tokens": 10 * n, "total_tokens": 100 + 11 * n,
                      "cache_creation_input_tokens": n % 4, "cache_read_input_tokens": 3 * n},
            "status": "in_progress" if n % 5 == 0 else "completed",
        }  # fmt: skip
        if n % 7 == 3:
            fields["model"] = ""  # an empty model counts as unknown, as a missing one does
        cost = None if n % 6 == 1 else round(0.001 * (n + 1), 6)
        made.append(
            (key, record(f"gen-{n:02d}", created_at=BASE + (n % 3) * DAY + n * 60, cost=cost, **fields))
        )
    return made


def expected_sums(
    sent: list[tuple[ApiKey, dict[str, Any]]], key: ApiKey | None, group_by: tuple[str, ...], period: Period
) -> list[GroupSums]:
    """The groups worked out from the records, as the report's SQL should find them."""
    since, until = period.epoch_bounds()
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for sender, one in sent:
        at = float(one["created_at"])
        if (key is not None and sender.reveal() != key.reveal()) or not since <= at < until:
            continue
        values = {
            "day": day_number(at),
            "model": one.get("model") or "",
            "endpoint": one.get("endpoint") or "",
        }
        sums = groups.setdefault(tuple(values[name] for name in group_by), [0, 0, 0, 0, 0, 0, None, 0, 0])
        sums[0] += 1
        for index, name in enumerate(USAGE_FIELDS, start=1):
            sums[index] += one["usage"].get(name, 0)
        cost = one["estimated_cost"]["total"]
        if cost is None:
            sums[7] += 1
        else:
            sums[6] = (sums[6] or 0) + cost
        sums[8] += one.get("status") == "in_progress"
    return [GroupSums(keys, tuple(sums)) for keys, sums in groups.items()]


GROUPINGS = [
    (),
    ("day",),
    ("model",),
    ("endpoint",),
    ("day", "model"),
    ("model", "endpoint"),
    ("endpoint", "day"),
]
PERIODS = [
    EVERYTHING,
    Period(datetime(2024, 11, 17, tzinfo=UTC), datetime(2024, 11, 18, tzinfo=UTC)),  # one day
    Period(datetime(2024, 11, 16, 0, 30, tzinfo=UTC), datetime(2024, 11, 18, 0, 10, tzinfo=UTC)),  # mid-day
]


def test_every_report_is_the_sums_worked_out_from_the_records(store: Store) -> None:
    sent = data_set()
    ledger = store.ledger()
    for key, one in sent:
        ledger.record(key, one)
    assert ledger.flush(15) and ledger.problem is None
    for key, group_by, period, limit in itertools.product(
        (KEY, OTHER_KEY, None), GROUPINGS, PERIODS, (100, 2)
    ):
        report, state = ledger.report(key, period, group_by, limit)
        wanted = build_report(period, group_by, expected_sums(sent, key, group_by, period), limit)
        assert report == wanted, (key, group_by, period, limit)
        assert state.exists and state.problem is None
    # Every key's report may group by key: each key's share is its own report's total.
    by_key, _ = ledger.report(None, EVERYTHING, ["key_identity"], 10)
    totals = sorted(row["generations"] for row in by_key["rows"])
    assert totals == sorted(
        ledger.report(k, EVERYTHING, [], 10)[0]["totals"]["generations"] for k in (KEY, OTHER_KEY)
    )
    identities = {bytes(row["key_identity"]).hex()[:12] for row in store.rows().values()}
    assert {row["key_identity"] for row in by_key["rows"]} == identities


def random_records(chance: random.Random, count: int) -> list[tuple[ApiKey, dict[str, Any]]]:
    """Records over five days at any second: models and endpoints missing or empty at times, costs
    at the estimates' precision (a trillionth) or none, some not final."""
    made = []
    for n in range(count):
        cost = None if chance.random() < 0.15 else round(chance.uniform(0, 3), 12)
        usage = {name: chance.randrange(0, 5000) for name in USAGE_FIELDS}
        fields = {
            "model": chance.choice(["gpt-5", "claude-x", "gemini-y", None, ""]),
            "endpoint": chance.choice(["openai.chat.completions", "anthropic.messages", None]),
            "usage": usage,
            "status": chance.choice(["completed", "completed", "in_progress"]),
        }
        created = BASE + chance.randrange(0, 5 * DAY)
        made.append(
            (chance.choice([KEY, OTHER_KEY]), record(f"gen-r{n}", created_at=created, cost=cost, **fields))
        )
    return made


def moved(chance: random.Random, one: dict[str, Any]) -> dict[str, Any]:
    """The record seen again: maybe another day, model or endpoint, a price now or none, final now."""
    again = dict(one)
    if chance.random() < 0.6:
        again["created_at"] = BASE + chance.randrange(0, 5 * DAY)
    if chance.random() < 0.5:
        again["model"] = chance.choice(["gpt-5", "claude-x", None])
    if chance.random() < 0.3:
        again["endpoint"] = chance.choice(["openai.chat.completions", None])
    if chance.random() < 0.5:
        again["estimated_cost"] = {
            "total": chance.choice([None, round(chance.uniform(0, 3), 12)]),
            "currency": "USD",
        }
    again["status"] = chance.choice(["completed", "in_progress"])
    return again


def random_period(chance: random.Random) -> Period:
    """Bounds at midnight, on the hour, or at any second, within the records' days and around them."""

    def moment() -> int:
        day = BASE + chance.randrange(-1, 7) * DAY
        return day + chance.choice([0, 0, 3600 * chance.randrange(1, 24), chance.randrange(1, DAY)])

    since, until = sorted((moment(), moment()))
    until += 0 if until > since else chance.choice([1, 3600, DAY])
    return Period(datetime.fromtimestamp(since, UTC), datetime.fromtimestamp(until, UTC))


def test_reports_from_day_sums_are_the_rows_sums_for_any_period_after_any_updates(store: Store) -> None:
    """Random records written, a third seen again and moved (another day, model, price, finality),
    a few deleted by hand: daily_sums is what the rows say, and every report over random periods
    (whole days, cut days, within one day) is the sums worked out from the records as they stand."""
    chance = random.Random(20261202)
    sent = random_records(chance, 400)
    ledger = store.ledger()
    for key, one in sent:
        ledger.record(key, one)
    assert ledger.flush(15) and ledger.problem is None
    latest = {(key.reveal(), one["id"]): (key, one) for key, one in sent}
    for _ in range(2):
        for key, one in chance.sample(list(latest.values()), 130):
            again = moved(chance, one)
            ledger.record(key, again)
            latest[(key.reveal(), one["id"])] = (key, again)
        assert ledger.flush(15) and ledger.problem is None
    gone = chance.sample(sorted(id_ for _, id_ in latest), 5)
    store.sql(f"DELETE FROM generations WHERE id IN ({', '.join(repr(id_) for id_ in gone)})")  # noqa: S608
    final = [(key, one) for (_, id_), (key, one) in latest.items() if id_ not in gone]
    by_hand, kept = day_sums_by_hand(store)
    assert kept == by_hand
    for _ in range(120):
        period = random_period(chance)
        key = chance.choice([KEY, OTHER_KEY, None])
        group_by = chance.choice(GROUPINGS)
        wanted = build_report(period, group_by, expected_sums(final, key, group_by, period), 1000)
        assert ledger.report(key, period, group_by, 1000)[0] == wanted, (period, key, group_by)


def test_writers_at_once_moving_the_same_rows_between_days_keep_day_sums_right(store: Store) -> None:
    """Three servers (their own connections) write the same key's ids at once, each moving them to
    other days and models as it goes, in opposite orders: no write fails (on PostgreSQL, no deadlock
    over the day rows), and daily_sums is the rows' own sums afterwards."""
    ledgers = [store.ledger() for _ in range(3)]
    written(ledgers[0], KEY, record("gen-first"))  # the schema, made once before the race

    def write_many(n: int, ledger: Ledger) -> None:
        chance = random.Random(n)
        ids = list(range(150)) if n % 2 else list(reversed(range(150)))
        for round_ in range(4):
            for i in ids:
                ledger.record(
                    KEY, moved(chance, record(f"gen-{i}", created_at=BASE + (i + round_ * n) % 5 * DAY))
                )
            ledger.flush(30)

    threads = [threading.Thread(target=write_many, args=(n, one)) for n, one in enumerate(ledgers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert all(one.problem is None and one.dropped == 0 for one in ledgers), [one.problem for one in ledgers]
    assert len(store.rows()) == 151
    by_hand, kept = day_sums_by_hand(store)
    assert kept == by_hand and sum(row[4] for row in kept) == 151


def test_exports_spans_and_the_rows_refresh_wants(store: Store) -> None:
    clock = Clock(1_800_000_000.0)
    sent = data_set()
    ledger = store.ledger(clock)
    for key, one in sent:
        ledger.record(key, one)
    assert ledger.flush(15)
    mine = [one for key, one in sent if key is KEY]
    exported = list(ledger.records(KEY, EVERYTHING))
    assert [row["record"] for row in exported] == sorted(mine, key=lambda one: (one["created_at"], one["id"]))
    assert {row["at"] for row in exported} == {float(one["created_at"]) for one in mine}
    assert all(row["first_seen"] == row["last_seen"] == clock.now for row in exported)
    assert [row["final"] for row in exported] == [row["record"]["status"] == "completed" for row in exported]
    waiting = sorted(
        (one for one in mine if one["status"] == "in_progress"), key=lambda one: one["created_at"]
    )
    assert ledger.not_final(KEY, clock.now - 1) == [one["id"] for one in waiting]
    assert ledger.not_final(KEY, clock.now + 1) == []
    empty, state = ledger.report(
        KEY, Period(datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 2, 1, tzinfo=UTC)), [], 5
    )
    assert empty["totals"]["generations"] == 0
    times = [float(one["created_at"]) for one in mine]
    assert (state.key_rows, state.first_at, state.last_at) == (len(mine), min(times), max(times))


def test_both_backends_give_identical_answers(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The same records into a file and a database: every report, export and span the same."""
    stores = [make_store(kind, tmp_path, request) for kind in ("sqlite", "postgresql")]
    answers = []
    try:
        for one_store in stores:
            ledger = one_store.ledger(Clock())
            for key, one in data_set():
                ledger.record(key, one)
            assert ledger.flush(15) and ledger.problem is None
            answers.append(
                [
                    ledger.report(key, period, group_by, limit)[0]
                    for key, group_by, period, limit in itertools.product(
                        (KEY, None), [*GROUPINGS, ("key_identity",)], PERIODS, (100, 3)
                    )
                    if key is None or "key_identity" not in group_by
                ]
                + [
                    [{**row, "key_identity": None} for row in ledger.records(None, EVERYTHING)],
                    ledger.not_final(KEY, 0),
                    ledger.report(
                        KEY, Period(datetime(2030, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)), [], 1
                    )[1].key_rows,
                ]
            )
    finally:
        for one_store in stores:
            for ledger in one_store.made:
                ledger.close()
    sqlite_answers, postgres_answers = answers
    # (key identities differ: each ledger has its own secret; the key's groups are compared by shape)
    for ours, theirs in zip(sqlite_answers, postgres_answers, strict=True):
        if isinstance(ours, dict) and ours["group_by"] == ["key_identity"]:
            ours, theirs = _without_identities(ours), _without_identities(theirs)
        assert ours == theirs


def _without_identities(report: dict[str, Any]) -> dict[str, Any]:
    rows = sorted(({**row, "key_identity": None} for row in report["rows"]), key=json.dumps)
    return {**report, "rows": rows}


# --- Schema: versions, upgrades, replicas at once -------------------------------------------------------


def _next_version(d: Dialect) -> list[str]:
    """A migration as a next version would add one: a column (which fails if added twice)."""
    return ["ALTER TABLE generations ADD COLUMN note TEXT"]


def backend_ledger(store: Store, migrations: Any = MIGRATIONS) -> Ledger:
    """A Ledger on the store knowing `migrations` (a next version's, for the upgrade tests)."""
    if isinstance(store.location, DatabaseUrl):
        made = Ledger(clock=Clock(), backend=PostgresBackend(store.location, migrations))
    else:
        made = Ledger(clock=Clock(), backend=_SqliteWith(store.location, migrations))
    store.made.append(made)
    return made


class _SqliteWith:
    """The SQLite backend with other migrations: for_writing is the one place they are used."""

    def __init__(self, path: Path, migrations: Any) -> None:
        from kushrouter_mcp.ledger.sqlite import SqliteBackend

        self._plain = SqliteBackend(path)
        self._migrations = migrations

    def __getattr__(self, name: str) -> Any:
        return getattr(self._plain, name)

    def for_writing(self) -> SqliteLedgerFile:
        return SqliteLedgerFile.for_writing(self._plain.path, self._migrations)


def schema_version(store: Store) -> int:
    ((value,),) = store.sql("SELECT value FROM ledger_meta WHERE name = 'schema_version'")
    return int(bytes(value) if isinstance(value, memoryview) else value)


def note_column_count(store: Store) -> int:
    if store.kind == "postgresql":
        query = (
            "SELECT COUNT(*) FROM information_schema.columns "
            "WHERE table_name = 'generations' AND column_name = 'note'"
        )
    else:
        query = "SELECT COUNT(*) FROM pragma_table_info('generations') WHERE name = 'note'"
    return int(store.sql(query)[0][0])


def test_a_new_ledger_is_at_the_latest_version_with_one_secret(store: Store) -> None:
    written(store.ledger(), KEY, record("gen-a"))
    assert schema_version(store) == SCHEMA_VERSION == len(MIGRATIONS)
    assert sorted(name for (name,) in store.sql("SELECT name FROM ledger_meta")) == [
        "identity_secret",
        "schema_version",
    ]


def day_sums_by_hand(store: Store) -> list[tuple[Any, ...]]:
    """daily_sums as the rows themselves say it should be, and as it is: both sorted."""
    pico = "CAST(ROUND(cost_usd * 1000000000000) AS BIGINT)"
    by_hand = store.sql(
        "SELECT key_identity, day, COALESCE(model, ''), COALESCE(endpoint, ''), COUNT(*), "  # noqa: S608
        f"{', '.join(f'SUM({name})' for name in USAGE_FIELDS)}, COALESCE(SUM({pico}), 0), "
        "COUNT(*) - COUNT(cost_usd), SUM(1 - final) FROM generations GROUP BY 1, 2, 3, 4"
    )
    kept = store.sql("SELECT * FROM daily_sums")
    return [sorted(tuple(bytes(v) if isinstance(v, memoryview) else int(v) if isinstance(v, int) else v
                          for v in row) for row in rows) for rows in (by_hand, kept)]  # fmt: skip


def test_a_version_1_ledger_is_read_as_it_is_then_upgraded_once_with_its_day_sums(store: Store) -> None:
    """A ledger an old server made (the version 1 DDL, as released) with rows in it: this server's
    reports read it as it is (no upgrade without a write); two servers writing at once upgrade it once,
    in one transaction (the fill of daily_sums would break its primary key if run twice), rows and
    identities kept, and every report afterwards is the sums of the records."""
    sent = data_set()
    old = backend_ledger(store, MIGRATIONS[:1])
    for key, one in sent:
        old.record(key, one)
    assert old.flush(15) and old.problem is None
    old.close()
    before = store.rows()
    assert schema_version(store) == 1 and not _has_table(store, "daily_sums")
    reader = store.ledger()
    for key, group_by in itertools.product((KEY, None), GROUPINGS):
        wanted = build_report(EVERYTHING, group_by, expected_sums(sent, key, group_by, EVERYTHING), 100)
        assert reader.report(key, EVERYTHING, group_by, 100)[0] == wanted
    assert schema_version(store) == 1, "reading upgrades nothing"
    upgraders = [store.ledger() for _ in range(2)]
    news = [(KEY, record(f"gen-new-{n}", created_at=BASE + DAY + 7)) for n in range(2)]
    written_at_once(upgraders, news)
    assert schema_version(store) == SCHEMA_VERSION == 2
    after = store.rows()
    assert set(after) == {*before, "gen-new-0", "gen-new-1"}
    assert bytes(after["gen-new-0"]["key_identity"]) == bytes(before["gen-01"]["key_identity"]), "same secret"
    by_hand, kept = day_sums_by_hand(store)
    assert kept == by_hand and len(kept) > 10
    sent += news
    for key, group_by, period in itertools.product((KEY, OTHER_KEY, None), GROUPINGS, PERIODS):
        wanted = build_report(period, group_by, expected_sums(sent, key, group_by, period), 100)
        assert upgraders[0].report(key, period, group_by, 100)[0] == wanted, (key, group_by, period)
    for one in upgraders:
        one.close()
    # An older server now refuses the ledger, untouched.
    older = backend_ledger(store, MIGRATIONS[:1])
    older.record(KEY, record("gen-from-the-past"))
    assert not older.flush(15) and (older.pending, older.dropped) == (1, 0), "the row waits, unwritten"
    assert "this one knows 1" in (older.problem or "")
    assert "gen-from-the-past" not in store.rows()


def _has_table(store: Store, name: str) -> bool:
    query = (
        f"SELECT 1 WHERE to_regclass('{name}') IS NOT NULL"
        if store.kind == "postgresql"
        else f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{name}'"  # noqa: S608
    )
    return bool(store.sql(query))


def test_a_next_versions_migration_runs_once_when_two_servers_start_at_once(store: Store) -> None:
    """The upgrade machinery beyond version 2: a next version's migration (a column, which fails if
    added twice) runs once with two servers writing at once, and a restart runs nothing again."""
    written(store.ledger(), KEY, record("gen-old"))
    newer = (*MIGRATIONS, _next_version)
    upgraders = [backend_ledger(store, newer) for _ in range(2)]
    written_at_once(upgraders, [(KEY, record(f"gen-new-{n}")) for n in range(len(upgraders))])
    assert schema_version(store) == SCHEMA_VERSION + 1 and note_column_count(store) == 1
    assert set(store.rows()) == {"gen-old", "gen-new-0", "gen-new-1"}
    for one in upgraders:
        one.close()
    written(backend_ledger(store, newer), KEY, record("gen-after-restart"))
    assert schema_version(store) == SCHEMA_VERSION + 1


def test_a_newer_schema_is_refused_untouched_naming_both_versions(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    first = store.ledger()
    written(first, KEY, record("gen-old"))
    first.close()
    newer = "'3'::bytea" if store.kind == "postgresql" else "3"
    store.sql(f"UPDATE ledger_meta SET value = {newer} WHERE name = 'schema_version'")  # noqa: S608
    store.sql("DROP INDEX generations_by_time")  # what this version would make again if it touched it
    before = (store.rows(), store.sql("SELECT name, value FROM ledger_meta ORDER BY name"))
    ledger = store.ledger()
    for n in range(3):
        ledger.record(KEY, record(f"gen-new-{n}"))
    assert not ledger.flush(15), "tried at once, and refused"
    assert (store.rows(), store.sql("SELECT name, value FROM ledger_meta ORDER BY name")) == before
    indexes = (
        "SELECT indexname FROM pg_indexes WHERE tablename = 'generations'"
        if store.kind == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'generations'"
    )
    assert "generations_by_time" not in {name for (name,) in store.sql(indexes)}
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and CANNOT_WRITE in r.getMessage()
    ]
    (warning,) = warnings
    assert (
        f"ledger schema 3; this one knows {SCHEMA_VERSION}" in warning and "upgrade kushrouter-mcp" in warning
    )
    assert ledger.problem is not None and (ledger.pending, ledger.dropped) == (3, 0), "they wait"
    report, _ = ledger.report(KEY, EVERYTHING, [], 10)
    assert report["totals"]["generations"] == 1, "still read"


CREATE_AT_ONCE = """
import sys, time
from kushrouter_mcp.ledger import ledger_for
from kushrouter_mcp.settings.config import Settings
from kushrouter_mcp.settings.keys import ApiKey
ledger = ledger_for(Settings.from_env({"KUSHROUTER_MCP_LEDGER": sys.argv[1]}))
while time.time() < float(sys.argv[2]):  # every process starts writing at the same moment
    time.sleep(0.001)
ledger.record(ApiKey(sys.argv[3]), {"id": sys.argv[4]})
assert ledger.flush(20) and ledger.problem is None, ledger.problem
ledger.close()
"""


def test_replicas_starting_at_once_on_an_empty_database_create_it_once_with_one_secret(
    pg_database: PgDatabase,
) -> None:
    import time

    start = time.time() + 3  # after every interpreter has started
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CREATE_AT_ONCE, pg_database.url, str(start), LEAK_CANARY, f"gen-{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(5)
    ]
    outcomes = [(process.communicate(timeout=40)[1], process.returncode) for process in processes]
    outcomes = [(code, err) for err, code in outcomes]
    assert all(code == 0 for code, _ in outcomes), outcomes
    assert all("Traceback" not in err and "error" not in err.lower() for _, err in outcomes), outcomes
    with psycopg.connect(pg_database.url) as db:
        meta = db.execute("SELECT name FROM ledger_meta").fetchall()
        identities = {bytes(row[0]) for row in db.execute("SELECT key_identity FROM generations")}
        count = db.execute("SELECT COUNT(*) FROM generations").fetchone()
    assert sorted(meta) == [("identity_secret",), ("schema_version",)], "one secret, one version"
    assert count == (5,) and len(identities) == 1, "every process computed the same identity"


# --- Settings: URL forms, the extra, the password never shown -----------------------------------------


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("postgresql://app:s3cr3t-pw@db.example:5432/usage?sslmode=require",
         "postgresql://app:***@db.example:5432/usage?sslmode=require"),
        ("postgres://app:s3cr3t-pw@h1:5432,h2:5433/usage", "postgres://app:***@h1:5432,h2:5433/usage"),
        ("postgresql:///usage?host=/run/pg&user=app&password=s3cr3t-pw&sslmode=verify-full",
         "postgresql:///usage?host=/run/pg&user=app&password=***&sslmode=verify-full"),
        ("host=db.example port=5432 dbname=usage user=app password=s3cr3t-pw sslmode=require",
         "host=db.example port=5432 dbname=usage user=app password=*** sslmode=require"),
        ("host=db dbname=usage password='s3cr3t-pw with spaces' sslrootcert=/etc/ca.pem",
         "host=db dbname=usage password=*** sslrootcert=/etc/ca.pem"),
        ("postgresql://app@db/usage", "postgresql://app@db/usage"),
    ],
)  # fmt: skip
def test_postgresql_urls_and_key_value_strings_are_taken_as_given_and_shown_without_the_password(
    given: str, shown: str
) -> None:
    location = Settings.from_env({"KUSHROUTER_MCP_LEDGER": given}).ledger
    assert isinstance(location, DatabaseUrl)
    assert location.reveal() == given, "every option (sslmode, hosts) passes to libpq untouched"
    assert str(location) == shown and "s3cr3t" not in repr(location)
    settings = Settings.from_env({"KUSHROUTER_MCP_LEDGER": given})
    assert "s3cr3t" not in repr(settings)
    if "s3cr3t" in given:
        assert all("s3cr3t-pw" in secret for secret in settings.log_secrets()) and settings.log_secrets()


@pytest.mark.parametrize(
    ("error", "advice", "not_advice"),
    [
        (pg_errors.DeadlockDetected("deadlock detected"), "rolled the write back", "check the URL"),
        (pg_errors.SerializationFailure("could not serialize access"), "tried again", "check the URL"),
        (pg_errors.InsufficientPrivilege("permission denied for table generations"), "CREATE on the", "URL"),
        (psycopg.OperationalError("connection refused"), "check the URL's host", "rolled"),
        (PoolTimeout("couldn't get a connection after 5.00 sec"), "reconnecting", "check the URL"),
    ],
)
def test_each_database_failure_gets_the_advice_that_fits_it_and_never_the_password(
    error: Exception, advice: str, not_advice: str
) -> None:
    """The same words the warning and a report's error use: a rolled-back write is not a wrong URL."""
    backend = PostgresBackend(DatabaseUrl("postgresql://ledger:s3cret-pw@127.0.0.1:1/usage"))
    said = backend.describe(error)
    assert advice in said and not_advice not in said, said
    assert "s3cret-pw" not in backend.describe(psycopg.OperationalError("password s3cret-pw refused"))


def test_another_databases_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"KUSHROUTER_MCP_LEDGER": "mysql://app:s3cr3t-pw@db/usage"})
    assert "postgresql://" in str(refused.value) and "s3cr3t" not in str(refused.value)


def test_file_paths_and_off_are_as_before(tmp_path: Path) -> None:
    assert Settings.from_env({"KUSHROUTER_MCP_LEDGER": "off"}).ledger == "off"
    path = tmp_path / "a=b.sqlite3"  # an `=` in a file name does not make it a connection string
    assert Settings.from_env({"KUSHROUTER_MCP_LEDGER": str(path)}).ledger == str(path)


# sys.modules[name] = None is Python's own "this module is absent": imports fail, find_spec says None.
HIDE_PSYCOPG = "import sys\nsys.modules['psycopg'] = None\nsys.modules['psycopg_pool'] = None\n"


def test_without_the_postgres_extra_start_up_stops_with_one_line_and_the_install_command(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    hidden = tmp_path / "no-psycopg"
    hidden.mkdir()
    (hidden / "sitecustomize.py").write_text(HIDE_PSYCOPG)
    env = server_env(
        sandbox.base_url, ALICE_KEY, KUSHROUTER_MCP_LEDGER="postgresql://app:s3cr3t-pw@127.0.0.1:1/usage"
    )
    env["PYTHONPATH"] = os.pathsep.join([str(hidden), env.get("PYTHONPATH", "")])
    http = kushrouter_command("--transport", "http", "--port", str(free_port()))
    for argv in (kushrouter_command(), http, kushrouter_command("report")):
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, (argv, done.stderr)
        assert "pip install 'kushrouter-mcp[postgres]'" in lines[0] and "PostgreSQL" in lines[0]
        assert "s3cr3t" not in done.stderr + done.stdout
    # The hiding is what made the difference: without it the same interpreter finds the driver.
    probe = [sys.executable, "-c", "import importlib.util as u; print(u.find_spec('psycopg') is None)"]
    hiding = subprocess.run(probe, env=env, capture_output=True, text=True, check=True).stdout
    plain = subprocess.run(
        probe, env=server_env(sandbox.base_url, ALICE_KEY), capture_output=True, text=True, check=True
    )
    assert (hiding.strip(), plain.stdout.strip()) == ("True", "False")


# --- The password and the key: nowhere ----------------------------------------------------------------


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


def report_command(env: dict[str, str], ledger: str) -> subprocess.CompletedProcess[str]:
    argv = kushrouter_command("report")
    return subprocess.run(
        argv, env={**env, "KUSHROUTER_MCP_LEDGER": ledger}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.anyio
async def test_the_password_and_the_key_are_in_no_log_line_error_or_file(
    sandbox: RunningSandbox, pg_database: PgDatabase, tmp_path: Path
) -> None:
    cluster = pg_database.cluster
    log = tmp_path / "stderr.log"
    env = server_env(
        sandbox.base_url, ALICE_KEY, KUSHROUTER_MCP_LEDGER=pg_database.url, KUSHROUTER_MCP_LOG_LEVEL="DEBUG"
    )
    command, *args = kushrouter_command()
    with log.open("w") as errlog:
        async with Client(
            stdio_client(StdioServerParameters(command=command, args=args, env=env), errlog=errlog)
        ) as client:
            found = await client.call_tool("get_generations", {"ids": [CHAT_ID, RESPONSES_ID]})
            assert not found.is_error
            report = await client.call_tool("usage_report", {"since": "2000-01-01", "group_by": []})
            assert not report.is_error and report.structured_content["totals"]["generations"] == 2
            cluster.stop()  # the database gone: a report is an error naming it, without the password
            try:
                failed = await client.call_tool("usage_report", {"since": "2000-01-01"})
            finally:
                cluster.start()
            assert failed.is_error and "127.0.0.1" in text_of(failed), text_of(failed)
            assert cluster.password not in text_of(failed) and "***" in text_of(failed)
    # A wrong password: the report command's one-line error, the URL shown redacted.
    wrong = pg_database.url.replace(cluster.password, "pgpw_wrong_" + cluster.password[-6:])
    done = report_command(env, wrong)
    assert done.returncode == 2 and "password authentication failed" in done.stderr, done.stderr
    logged = log.read_text()
    assert "DEBUG" in logged, "the log was at DEBUG"
    everything = logged + done.stderr + done.stdout + text_of(report)
    for secret in (cluster.password, "pgpw_wrong_", ALICE_KEY):
        assert secret not in everything
    with psycopg.connect(pg_database.url, autocommit=True) as db:
        db.execute("CHECKPOINT")
    for path in cluster.root.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert cluster.password.encode() not in content and ALICE_KEY.encode() not in content, path


# --- Grants: what docs/ledger.md says a user needs is enough, and less is said plainly -------------------


def role_url(database: PgDatabase, role: str, password: str) -> str:
    cluster = database.cluster
    return f"postgresql://{role}:{password}@127.0.0.1:{cluster.port}/{database.name}"


def make_role(database: PgDatabase, role: str, password: str, *grants: str) -> str:
    with psycopg.connect(database.url, autocommit=True) as db:
        db.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        db.execute(f'GRANT CONNECT ON DATABASE "{database.name}" TO {role}')
        for grant in grants:
            db.execute(grant.format(role=role))
    return role_url(database, role, password)


def test_the_documented_grants_are_enough_and_a_missing_one_is_named(
    pg_database: PgDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    suffix = pg_database.name.rsplit("_", 1)[-1]
    # No CREATE on the schema, on an empty database: the first start can't make the tables.
    bare = make_role(pg_database, f"bare_{suffix}", "pw_bare_1")
    bare_ledger = Ledger(clock=Clock(), backend=PostgresBackend(DatabaseUrl(bare)))
    bare_ledger.record(KEY, record("gen-refused"))
    assert not bare_ledger.flush(15) and (bare_ledger.pending, bare_ledger.dropped) == (1, 0)
    (warning,) = [r.getMessage() for r in caplog.records if CANNOT_WRITE in r.getMessage()]
    assert "permission denied" in warning and "CREATE on the schema" in warning, warning
    assert "pw_bare_1" not in warning and "***" in warning
    bare_ledger.close()
    # CREATE for the first start: the tables are made, and rows written.
    first = make_role(pg_database, f"first_{suffix}", "pw_first_1", "GRANT CREATE ON SCHEMA public TO {role}")
    written(Ledger(clock=Clock(), backend=PostgresBackend(DatabaseUrl(first))), KEY, record("gen-1"))
    # Afterwards SELECT, INSERT and UPDATE are enough to write (a row seen again is an UPDATE), and
    # DELETE on daily_sums (a day a row moved out of); without that one, the message names the table...
    table_grants = "GRANT SELECT, INSERT, UPDATE ON ledger_meta, generations TO {role}"
    lacking = make_role(pg_database, f"lacking_{suffix}", "pw_lacking_1", table_grants)
    lacking_ledger = Ledger(clock=Clock(), backend=PostgresBackend(DatabaseUrl(lacking)))
    lacking_ledger.record(KEY, record("gen-lacking"))
    assert not lacking_ledger.flush(15) and (lacking_ledger.pending, lacking_ledger.dropped) == (1, 0)
    assert lacking_ledger.problem is not None and "daily_sums" in lacking_ledger.problem
    assert "DELETE too on daily_sums" in lacking_ledger.problem
    lacking_ledger.close()
    writer = make_role(
        pg_database, f"writer_{suffix}", "pw_writer_1", table_grants,
        "GRANT SELECT, INSERT, UPDATE, DELETE ON daily_sums TO {role}",
    )  # fmt: skip
    ledger = Ledger(clock=Clock(), backend=PostgresBackend(DatabaseUrl(writer)))
    written(ledger, KEY, record("gen-2"), record("gen-1", status="completed", model="gpt-5"))
    report, _ = ledger.report(KEY, EVERYTHING, ["model"], 10)
    assert report["totals"]["generations"] == 2
    ledger.close()
    # ...and SELECT alone to report.
    reader = make_role(
        pg_database,
        f"reader_{suffix}",
        "pw_reader_1",
        "GRANT SELECT ON ledger_meta, generations, daily_sums TO {role}",
    )
    reports_only = Ledger(clock=Clock(), backend=PostgresBackend(DatabaseUrl(reader)))
    assert reports_only.report(KEY, EVERYTHING, ["model"], 10)[0] == report
    assert [row["record"]["id"] for row in reports_only.records(KEY, EVERYTHING)] == ["gen-1", "gen-2"]
    reports_only.close()
