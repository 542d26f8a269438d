"""The ledger's SQL, written once for SQLite and PostgreSQL: the schema and its migrations, the
upsert, and the reads reports make. A `Dialect` says only what the two spell differently (the
parameter mark, two column types, a key identity in hex); `SqlLedgerStore` runs the reads on
either, given a way to run a query.
"""

# S608: queries are built from this module's own column names only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import itertools
import json
import math
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from ..records.models import USAGE_FIELDS
from ..records.totals import COST_PLACES
from ..reports.periods import Period
from ..reports.report import GroupSums, day_number
from ..settings.keys import ApiKey, KeyIdentities
from .errors import LedgerError
from .rows import COLUMNS, KEY_GROUP, SHORT_IDENTITY_HEX


@dataclass(frozen=True)
class Dialect:
    name: str
    mark: str  # a bound parameter's placeholder
    blob: str
    real: str
    hex_of: str  # a key identity as lower-case hex, `{}` the column
    meta_exists: str  # one row if the ledger_meta table exists, none otherwise
    keyed_table: str  # what follows a table's definition when its primary key should hold its rows

    def version_value(self, version: int) -> object:
        """The schema version as ledger_meta stores it (a BLOB column keeps SQLite's integer; a
        BYTEA needs bytes). int() reads both back."""
        return version if self.name == "sqlite" else str(version).encode()

    @cached_property
    def statements(self) -> Statements:
        return Statements(self)


SQLITE = Dialect(
    "sqlite", "?", "BLOB", "REAL", "lower(hex({}))",
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ledger_meta'", " WITHOUT ROWID",
)  # fmt: skip
POSTGRES = Dialect(
    "postgresql", "%s", "BYTEA", "DOUBLE PRECISION", "encode({}, 'hex')",
    "SELECT 1 WHERE to_regclass('ledger_meta') IS NOT NULL", "",
)  # fmt: skip


# --- Schema -----------------------------------------------------------------------------------------


def _version_1(d: Dialect) -> list[str]:
    """The ledger as first released: one row per (key identity, generation id), two indexes."""
    return [
        f"""CREATE TABLE IF NOT EXISTS generations (
    key_identity {d.blob} NOT NULL,  -- keyed hash of the API key (secret in ledger_meta), never the key
    id TEXT NOT NULL,
    at {d.real} NOT NULL,            -- when the request was made, or first seen if the record has no time
    day INTEGER NOT NULL,            -- at's UTC day, as days since 1970-01-01
    created_at TEXT,                 -- the record's created_at, ISO 8601 (null when it had none)
    first_seen {d.real} NOT NULL,
    last_seen {d.real} NOT NULL,
    model TEXT,
    endpoint TEXT,
    status TEXT,
    final INTEGER NOT NULL,          -- 0: not final when last seen (report --refresh looks it up again)
    {", ".join(f"{name} INTEGER NOT NULL" for name in USAGE_FIELDS)},
    cost_usd {d.real},               -- the estimate's total, null when not priced
    record TEXT NOT NULL,            -- the record as the server returned it, estimate included (JSON)
    UNIQUE (key_identity, id)
)""",
        # Covers every report: a period's rows are read from the index alone, in (day, model,
        # endpoint) order, so grouping them needs no sort (sorting a million rows took seconds).
        f"""CREATE INDEX IF NOT EXISTS generations_report ON generations (
    key_identity, day, model, endpoint, at, final, cost_usd, {", ".join(USAGE_FIELDS)}
)""",
        # Exports in time order, a key's first and last time, the rows --refresh looks up again.
        "CREATE INDEX IF NOT EXISTS generations_by_time ON generations (key_identity, at, final, last_seen)",
    ]


# The day's sums (version 2): one row per key identity, UTC day, model and endpoint, kept by triggers
# on generations, so a report reads whole days from a few thousand rows, not a million index entries.
# A cost is summed as a whole number of picodollars (the estimates' own precision, COST_PLACES): a
# sum of sums is then exactly the sum of the rows, however the period is cut into days.
ROLLUP_VERSION = 2
PICODOLLARS = 10**COST_PLACES
DAY_SECONDS = 86400
_ROLLUP_KEY = ("key_identity", "day", "model", "endpoint")
ROLLUP_SUMS: tuple[str, ...] = ("generations", *USAGE_FIELDS, "cost_picodollars", "unpriced", "not_final")


def row_share(row: str) -> list[str]:
    """What one generations row (`row`: NEW, OLD or the table) adds to its day's ROLLUP_SUMS."""
    return [
        "1",
        *(f"{row}.{name}" for name in USAGE_FIELDS),
        f"COALESCE(CAST(ROUND({row}.cost_usd * {PICODOLLARS}) AS BIGINT), 0)",
        f"CASE WHEN {row}.cost_usd IS NULL THEN 1 ELSE 0 END",
        f"1 - {row}.final",
    ]


def _rollup_key_of(row: str) -> list[str]:
    """A row's day in daily_sums: a missing model or endpoint is '' (as reports group it: unknown)."""
    return [
        f"{row}.key_identity",
        f"{row}.day",
        f"COALESCE({row}.model, '')",
        f"COALESCE({row}.endpoint, '')",
    ]


def _add_to_day(row: str, sign: str = "") -> str:
    """The upsert adding (sign '') or taking away (sign '-') a row's share of its day."""
    values = [*_rollup_key_of(row), *(f"{sign}({share})" for share in row_share(row))]
    return (
        f"INSERT INTO daily_sums ({', '.join((*_ROLLUP_KEY, *ROLLUP_SUMS))}) VALUES ({', '.join(values)}) "
        f"ON CONFLICT ({', '.join(_ROLLUP_KEY)}) DO UPDATE SET "
        + ", ".join(f"{name} = daily_sums.{name} + excluded.{name}" for name in ROLLUP_SUMS)
    )


def _drop_empty_day(row: str) -> str:
    """A day a row left with nothing in it goes: the rows' own sums never show an empty group."""
    matches = " AND ".join(
        f"{column} = {value}" for column, value in zip(_ROLLUP_KEY, _rollup_key_of(row), strict=True)
    )
    return f"DELETE FROM daily_sums WHERE {matches} AND generations = 0"


def _version_2(d: Dialect) -> list[str]:
    """daily_sums, filled from the rows there are, and the triggers that keep it: an insert adds the
    row's share; an update takes the old row's share away and adds the new one's (it may move to
    another day, model or endpoint); a delete takes it away."""
    rows = "generations"
    sums = ", ".join(f"SUM({share})" for share in row_share(rows))
    return [
        f"""CREATE TABLE IF NOT EXISTS daily_sums (
    key_identity {d.blob} NOT NULL,
    day INTEGER NOT NULL,
    model TEXT NOT NULL,             -- '' when the rows have none
    endpoint TEXT NOT NULL,
    {", ".join(f"{name} BIGINT NOT NULL" for name in ROLLUP_SUMS)},
    PRIMARY KEY ({", ".join(_ROLLUP_KEY)})
){d.keyed_table}""",
        f"INSERT INTO daily_sums ({', '.join((*_ROLLUP_KEY, *ROLLUP_SUMS))}) "
        f"SELECT {', '.join(_rollup_key_of(rows))}, {sums} "
        f"FROM {rows} GROUP BY 1, 2, 3, 4",
        *(_sqlite_triggers() if d.name == "sqlite" else _postgres_triggers()),
    ]


def _sqlite_triggers() -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS daily_sums_insert AFTER INSERT ON generations BEGIN "
        f"{_add_to_day('NEW')}; END",
        f"CREATE TRIGGER IF NOT EXISTS daily_sums_update AFTER UPDATE ON generations BEGIN "
        f"{_add_to_day('OLD', '-')}; {_add_to_day('NEW')}; {_drop_empty_day('OLD')}; END",
        f"CREATE TRIGGER IF NOT EXISTS daily_sums_delete AFTER DELETE ON generations BEGIN "
        f"{_add_to_day('OLD', '-')}; {_drop_empty_day('OLD')}; END",
    ]


def _postgres_triggers() -> list[str]:
    return [
        f"""CREATE OR REPLACE FUNCTION daily_sums_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN {_add_to_day("OLD", "-")}; END IF;
    IF TG_OP <> 'DELETE' THEN {_add_to_day("NEW")}; END IF;
    IF TG_OP <> 'INSERT' THEN {_drop_empty_day("OLD")}; END IF;
    RETURN NULL;
END $$""",
        "CREATE OR REPLACE TRIGGER daily_sums_follow AFTER INSERT OR UPDATE OR DELETE ON generations "
        "FOR EACH ROW EXECUTE FUNCTION daily_sums_follow()",
    ]


# Migration n (1-based) brings a version n-1 ledger to version n; a new ledger runs them all. Each
# runs in the transaction that checks the version, so a ledger is at one version or the next.
Migration = Callable[[Dialect], list[str]]
MIGRATIONS: tuple[Migration, ...] = (_version_1, _version_2)
SCHEMA_VERSION = len(MIGRATIONS)


class Executes(Protocol):
    """What both drivers' connections offer: execute(query, parameters) -> a cursor."""

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...


def prepare(
    db: Executes, dialect: Dialect, elsewhere: str, migrations: Sequence[Migration] = MIGRATIONS
) -> bytes:
    """Create or upgrade the schema, and return the identity secret (made with the schema). Runs in
    the caller's transaction, which holds the ledger to itself (SQLite's BEGIN IMMEDIATE, PostgreSQL's
    advisory lock), so replicas starting at once create it once. A newer ledger is refused before
    anything is written: the refusal rolls back. `elsewhere` ends the refusal: where else to point."""
    mark = dialect.mark
    if db.execute(dialect.meta_exists).fetchone() is None:  # CREATE needs a grant a writer may lack
        db.execute(
            f"CREATE TABLE IF NOT EXISTS ledger_meta (name TEXT PRIMARY KEY, value {dialect.blob} NOT NULL)"
        )
    meta = _meta(db)
    if "schema_version" not in meta:
        db.execute(
            f"INSERT INTO ledger_meta VALUES ('schema_version', {mark}), ('identity_secret', {mark}) "
            "ON CONFLICT (name) DO NOTHING",
            (dialect.version_value(0), secrets.token_bytes(KeyIdentities.SECRET_BYTES)),
        )
        meta = _meta(db)
    version = int(meta["schema_version"])
    refuse_newer(version, len(migrations), elsewhere)
    for migration in migrations[version:]:
        for statement in migration(dialect):
            db.execute(statement)
    if version < len(migrations):
        db.execute(
            f"UPDATE ledger_meta SET value = {mark} WHERE name = 'schema_version'",
            (dialect.version_value(len(migrations)),),
        )
    return bytes(meta["identity_secret"])


def _meta(db: Executes) -> dict[str, Any]:
    return dict(db.execute("SELECT name, value FROM ledger_meta").fetchall())


def secret_and_version(db: Executes) -> tuple[bytes | None, int]:
    """A ledger's identity secret (None before it has one) and schema version, read as they are."""
    meta = _meta(db)
    secret = meta.get("identity_secret")
    return None if secret is None else bytes(secret), int(meta.get("schema_version", 0))


def refuse_newer(version: int, known: int, elsewhere: str) -> None:
    if version > known:
        raise LedgerError(
            f"it was written by a newer kushrouter-mcp (ledger schema {version}; this one knows "
            f"{known}), so this one won't write to it: upgrade kushrouter-mcp, or point "
            f"KUSHROUTER_MCP_LEDGER at {elsewhere}"
        )


# --- Statements ---------------------------------------------------------------------------------------

# A row seen again replaces its fields but keeps when it was first seen, and the time it was
# counted at unless the record now says when it was made.
_KEEP = {"key_identity", "id", "at", "day", "first_seen", "last_seen"}
# Rows read one by one (the edges of a period that cut a day) are summed in the index's order (key,
# day, model, endpoint), which needs no sort, into a day's sums as daily_sums holds them; those few
# sums, or daily_sums' own rows, are added up into the groups asked for.
_INDEX_GROUPS = "key_identity, day, model, endpoint"
_ROWS_BY_DAY = ", ".join(
    f"SUM({share}) AS {name}" for share, name in zip(row_share("generations"), ROLLUP_SUMS, strict=True)
)


class Statements:
    """Every query of the ledger in one dialect."""

    def __init__(self, d: Dialect) -> None:
        self.dialect = d
        self.upsert = f"""
INSERT INTO generations ({", ".join(COLUMNS)}) VALUES ({", ".join(d.mark for _ in COLUMNS)})
ON CONFLICT (key_identity, id) DO UPDATE SET
    at = CASE WHEN excluded.created_at IS NULL THEN generations.at ELSE excluded.at END,
    day = CASE WHEN excluded.created_at IS NULL THEN generations.day ELSE excluded.day END,
    {", ".join(f"{name} = excluded.{name}" for name in COLUMNS if name not in _KEEP)},
    last_seen = excluded.last_seen
"""
        self.group_columns = {
            "day": "day",
            "model": "COALESCE(model, '')",
            "endpoint": "COALESCE(endpoint, '')",
            KEY_GROUP: f"substr({d.hex_of.format('key_identity')}, 1, {SHORT_IDENTITY_HEX})",
        }
        # Whole sums stay whole (PostgreSQL's SUM of a bigint is a numeric).
        self.rolled_up_sums = ", ".join(f"CAST(SUM({name}) AS BIGINT)" for name in ROLLUP_SUMS)
        self.not_final = (
            f"SELECT id FROM generations WHERE key_identity = {d.mark} AND final = 0 "
            f"AND last_seen >= {d.mark} ORDER BY at"
        )

    def group_sums(self, source: str, where: str, group_by: Sequence[str]) -> str:
        """The groups' ROLLUP_SUMS over `source`'s day sums that match `where`."""
        keys = [self.group_columns[name] for name in group_by]
        grouping = f" GROUP BY {', '.join(keys)}" if keys else ""
        return f"SELECT {', '.join([*keys, self.rolled_up_sums])} FROM {source} WHERE {where}{grouping}"

    def rows_summed(self, where: str, group_by: Sequence[str]) -> str:
        """The groups' sums over the rows themselves (the days a period cuts, or a version 1 ledger)."""
        by_day = (
            f"SELECT {_INDEX_GROUPS}, {_ROWS_BY_DAY} FROM generations WHERE {where} GROUP BY {_INDEX_GROUPS}"
        )
        return self.group_sums(f"({by_day}) AS day_sums", "TRUE", group_by)

    def days_summed(
        self, identity: bytes | None, first: int, end: int, group_by: Sequence[str]
    ) -> tuple[str, list[Any]]:
        """The groups' sums over whole days [first, end) from daily_sums."""
        where, arguments = self.key_filter(identity)
        mark = self.dialect.mark
        return self.group_sums("daily_sums", f"{where} AND day >= {mark} AND day < {mark}", group_by), [
            *arguments,
            first,
            end,
        ]

    def records(self, where: str) -> str:
        return (
            "SELECT key_identity, at, first_seen, last_seen, final, record FROM generations "
            f"WHERE {where} ORDER BY at, id"
        )

    def span(self, where: str) -> str:
        return f"SELECT COUNT(*), MIN(at), MAX(at) FROM generations WHERE {where}"

    def period_filter(
        self, identity: bytes | None, period: Period, by_day: bool = False
    ) -> tuple[str, list[Any]]:
        return self.time_filter(identity, *period.epoch_bounds(), by_day=by_day)

    def time_filter(
        self, identity: bytes | None, since: float, until: float, by_day: bool = False
    ) -> tuple[str, list[Any]]:
        """The rows of [since, until); `by_day` bounds the days too, the range the report index can
        seek (the last day is the one holding until's last moment: not until's own when it is midnight)."""
        mark = self.dialect.mark
        conditions: list[str] = []
        arguments: list[Any] = []
        if identity is not None:
            conditions.append(f"key_identity = {mark}")
            arguments.append(identity)
        if by_day:  # a row's day is its time's day: these bounds keep every row the times keep
            conditions.append(f"day BETWEEN {mark} AND {mark}")
            arguments += [day_number(since), math.ceil(until / DAY_SECONDS) - 1]
        return " AND ".join([*conditions, f"at >= {mark}", f"at < {mark}"]), [*arguments, since, until]

    def key_filter(self, identity: bytes | None) -> tuple[str, list[Any]]:
        return (f"key_identity = {self.dialect.mark}", [identity]) if identity is not None else ("TRUE", [])


def _group_sums(rows: Iterable[Sequence[Any]], width: int) -> list[GroupSums]:
    """Rows of (group keys, ROLLUP_SUMS) added up by group, as SUM_FIELDS: the cost in dollars, or
    None when nothing in the group was priced."""
    added: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        sums = added.setdefault(tuple(row[:width]), [0] * len(ROLLUP_SUMS))
        for index, value in enumerate(row[width:]):
            sums[index] += int(value or 0)  # an ungrouped sum over no rows is NULLs
    return [GroupSums(keys, _in_dollars(sums)) for keys, sums in added.items()]


def _in_dollars(sums: list[int]) -> tuple[Any, ...]:
    *counts, picodollars, unpriced, not_final = sums
    priced = counts[0] - unpriced
    return (*counts, picodollars / PICODOLLARS if priced else None, unpriced, not_final)


class SqlLedgerStore:
    """The reads every report makes, the same on both backends; a backend gives `_rows` (run a
    query, yield its rows) and `write`."""

    dialect: Dialect

    def __init__(self, secret: bytes | None, version: int) -> None:
        self._identities = None if secret is None else KeyIdentities(secret)
        self._has_day_sums = version >= ROLLUP_VERSION  # a version 1 ledger read as it is has none

    def _rows(self, query: str, arguments: Sequence[Any]) -> Iterable[Sequence[Any]]:
        raise NotImplementedError

    # --- identities ------------------------------------------------------------------------------

    def identity(self, key: ApiKey) -> bytes | None:
        """The key's identity in this ledger (None while it has no secret, so no rows)."""
        return None if self._identities is None else self._identities.of(key)

    def writer_identity(self, key: ApiKey) -> bytes:
        identity = self.identity(key)
        if identity is None:  # opening for writing always reads or makes the secret
            raise LedgerError("the ledger has no identity secret")
        return identity

    # --- reading -------------------------------------------------------------------------------

    def group_sums(self, identity: bytes | None, period: Period, group_by: Sequence[str]) -> list[GroupSums]:
        """Each group's sums over the period's rows (one key's, or every key's with None): its whole
        UTC days from daily_sums, the days it cuts (its first and last, at most) from the rows."""
        since, until = period.epoch_bounds()
        first, end = math.ceil(since / DAY_SECONDS), math.floor(until / DAY_SECONDS)
        if not self._has_day_sums or first >= end:
            return _group_sums(self._summed_rows(identity, since, until, group_by), len(group_by))
        parts = [self._rows(*self.dialect.statements.days_summed(identity, first, end, group_by))]
        if since < first * DAY_SECONDS:
            parts.append(self._summed_rows(identity, since, first * DAY_SECONDS, group_by))
        if until > end * DAY_SECONDS:
            parts.append(self._summed_rows(identity, end * DAY_SECONDS, until, group_by))
        return _group_sums(itertools.chain.from_iterable(parts), len(group_by))

    def _summed_rows(
        self, identity: bytes | None, since: float, until: float, group_by: Sequence[str]
    ) -> Iterable[Sequence[Any]]:
        sql = self.dialect.statements
        where, arguments = sql.time_filter(identity, since, until, by_day=True)
        return self._rows(sql.rows_summed(where, group_by), arguments)

    def records(self, identity: bytes | None, period: Period) -> Iterator[dict[str, Any]]:
        """The period's rows in time order, each with its record and when it was seen."""
        sql = self.dialect.statements
        where, arguments = sql.period_filter(identity, period)
        for key_identity, at, first_seen, last_seen, final, record in self._rows(
            sql.records(where), arguments
        ):
            yield {
                "key_identity": bytes(key_identity).hex(),
                "at": at,
                "first_seen": first_seen,
                "last_seen": last_seen,
                "final": bool(final),
                "record": json.loads(record),
            }

    def span(self, identity: bytes | None) -> tuple[int, float | None, float | None]:
        """How many rows the key has (every key's with None), and the earliest and latest time."""
        sql = self.dialect.statements
        where, arguments = sql.key_filter(identity)
        ((count, first, last),) = list(self._rows(sql.span(where), arguments))  # read to the end
        return int(count), first, last

    def not_final(self, identity: bytes, seen_since: float) -> list[str]:
        """Ids of the key's rows not final when last seen, last seen after `seen_since`."""
        return [row[0] for row in self._rows(self.dialect.statements.not_final, (identity, seen_since))]
