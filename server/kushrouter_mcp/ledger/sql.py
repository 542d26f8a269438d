"""The ledger's SQL, written once for SQLite and PostgreSQL: the schema and its migrations, the
upsert, and the reads reports make. A `Dialect` says only what the two spell differently (the
parameter mark, two column types, a key identity in hex); `SqlLedgerStore` runs the reads on
either, given a way to run a query.
"""

# S608: queries are built from this module's own column names only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from ..records.models import USAGE_FIELDS
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

    def version_value(self, version: int) -> object:
        """The schema version as ledger_meta stores it (a BLOB column keeps SQLite's integer; a
        BYTEA needs bytes). int() reads both back."""
        return version if self.name == "sqlite" else str(version).encode()

    @cached_property
    def statements(self) -> Statements:
        return Statements(self)


SQLITE = Dialect(
    "sqlite", "?", "BLOB", "REAL", "lower(hex({}))",
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ledger_meta'",
)  # fmt: skip
POSTGRES = Dialect(
    "postgresql", "%s", "BYTEA", "DOUBLE PRECISION", "encode({}, 'hex')",
    "SELECT 1 WHERE to_regclass('ledger_meta') IS NOT NULL",
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


# Migration n (1-based) brings a version n-1 ledger to version n; a new ledger runs them all. Each
# runs in the transaction that checks the version, so a ledger is at one version or the next.
Migration = Callable[[Dialect], list[str]]
MIGRATIONS: tuple[Migration, ...] = (_version_1,)
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
_SUMS = (
    "COUNT(*)",
    *(f"SUM({name})" for name in USAGE_FIELDS),
    "SUM(cost_usd)",
    "COUNT(*) - COUNT(cost_usd)",  # rows not priced
    "SUM(1 - final)",
)
# A period's rows are summed in the index's order (key, day, model, endpoint), which needs no sort,
# and those few sums (days x models x endpoints at most) are added up into the groups asked for.
_INDEX_GROUPS = "key_identity, day, model, endpoint"
_PARTIAL_SUMS = ", ".join(f"{expression} AS s{n}" for n, expression in enumerate(_SUMS))


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
        # The count of nothing stays 0, as COUNT(*) says it; whole sums stay whole (PostgreSQL's SUM
        # of a bigint is a numeric).
        rolled = [
            "COALESCE(SUM(s0), 0)",
            *(
                f"SUM(s{n})" if _SUMS[n] == "SUM(cost_usd)" else f"CAST(SUM(s{n}) AS BIGINT)"
                for n in range(1, len(_SUMS))
            ),
        ]
        self.rolled_up_sums = ", ".join(rolled)
        self.identity_secret = "SELECT value FROM ledger_meta WHERE name = 'identity_secret'"  # noqa: S105
        self.not_final = (
            f"SELECT id FROM generations WHERE key_identity = {d.mark} AND final = 0 "
            f"AND last_seen >= {d.mark} ORDER BY at"
        )

    def group_sums(self, where: str, group_by: Sequence[str]) -> str:
        keys = [self.group_columns[name] for name in group_by]
        partial = (
            f"SELECT {_INDEX_GROUPS}, {_PARTIAL_SUMS} FROM generations WHERE {where} GROUP BY {_INDEX_GROUPS}"
        )
        grouping = f" GROUP BY {', '.join(keys)}" if keys else ""
        return f"SELECT {', '.join([*keys, self.rolled_up_sums])} FROM ({partial}) AS partial_sums{grouping}"

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
        """The period's rows; `by_day` bounds the days too, the range the report index can seek."""
        since, until = period.epoch_bounds()
        mark = self.dialect.mark
        conditions: list[str] = []
        arguments: list[Any] = []
        if identity is not None:
            conditions.append(f"key_identity = {mark}")
            arguments.append(identity)
        if by_day:  # a row's day is its time's day: these bounds keep every row the times keep
            conditions.append(f"day BETWEEN {mark} AND {mark}")
            arguments += [day_number(since), day_number(until)]
        return " AND ".join([*conditions, f"at >= {mark}", f"at < {mark}"]), [*arguments, since, until]

    def key_filter(self, identity: bytes | None) -> tuple[str, list[Any]]:
        return (f"key_identity = {self.dialect.mark}", [identity]) if identity is not None else ("TRUE", [])


class SqlLedgerStore:
    """The reads every report makes, the same on both backends; a backend gives `_rows` (run a
    query, yield its rows) and `write`."""

    dialect: Dialect

    def __init__(self, secret: bytes | None) -> None:
        self._identities = None if secret is None else KeyIdentities(secret)

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
        """Each group's sums over the period's rows (one key's, or every key's with None)."""
        sql = self.dialect.statements
        where, arguments = sql.period_filter(identity, period, by_day=True)
        width = len(group_by)
        return [
            GroupSums(tuple(row[:width]), tuple(row[width:]))
            for row in self._rows(sql.group_sums(where, group_by), arguments)
        ]

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
