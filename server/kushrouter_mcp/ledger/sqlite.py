"""The ledger's SQLite file: schema, the identity secret, upserts, and the reads reports make.

WAL mode and a long busy timeout are what make several processes on one file safe: readers never
block the writer, and a writer waits its turn instead of failing with "database is locked". The
file and its -wal/-shm companions are created owner-only (0600): they hold what was spent.
"""

# S608: queries are built from this module's own column names only; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..records.models import USAGE_FIELDS
from ..reports.periods import Period
from ..reports.report import GroupSums, day_number
from ..settings.keys import ApiKey, KeyIdentities
from .errors import LedgerError
from .rows import COLUMNS, KEY_GROUP, SHORT_IDENTITY_HEX

SCHEMA_VERSION = 1
T = TypeVar("T")
BUSY_TIMEOUT_SECONDS = 30.0

_META_SCHEMA = "CREATE TABLE IF NOT EXISTS ledger_meta (name TEXT PRIMARY KEY, value BLOB NOT NULL)"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS generations (
    key_identity BLOB NOT NULL,     -- keyed hash of the API key (secret in ledger_meta), never the key
    id TEXT NOT NULL,
    at REAL NOT NULL,               -- when the request was made, or first seen if the record has no time
    day INTEGER NOT NULL,           -- at's UTC day, as days since 1970-01-01
    created_at TEXT,                -- the record's created_at, ISO 8601 (null when it had none)
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    model TEXT,
    endpoint TEXT,
    status TEXT,
    final INTEGER NOT NULL,         -- 0: not final when last seen (report --refresh looks it up again)
    {", ".join(f"{name} INTEGER NOT NULL" for name in USAGE_FIELDS)},
    cost_usd REAL,                  -- the estimate's total, null when not priced
    record TEXT NOT NULL,           -- the record as the server returned it, estimate included (JSON)
    UNIQUE (key_identity, id)
);
-- Covers every report: a period's rows are read from the index alone, in (day, model, endpoint)
-- order, so grouping them needs no sort (sorting a million rows took seconds).
CREATE INDEX IF NOT EXISTS generations_report ON generations (
    key_identity, day, model, endpoint, at, final, cost_usd, {", ".join(USAGE_FIELDS)}
);
-- Exports in time order, a key's first and last time, the rows --refresh looks up again.
CREATE INDEX IF NOT EXISTS generations_by_time ON generations (key_identity, at, final, last_seen);
"""

# A row seen again replaces its fields but keeps when it was first seen, and the time it was
# counted at unless the record now says when it was made.
_KEEP = {"key_identity", "id", "at", "day", "first_seen", "last_seen"}
_UPSERT = f"""
INSERT INTO generations ({", ".join(COLUMNS)}) VALUES ({", ".join("?" for _ in COLUMNS)})
ON CONFLICT (key_identity, id) DO UPDATE SET
    at = CASE WHEN excluded.created_at IS NULL THEN generations.at ELSE excluded.at END,
    day = CASE WHEN excluded.created_at IS NULL THEN generations.day ELSE excluded.day END,
    {", ".join(f"{name} = excluded.{name}" for name in COLUMNS if name not in _KEEP)},
    last_seen = excluded.last_seen
"""

_GROUP_COLUMNS = {
    "day": "day",
    "model": "COALESCE(model, '')",
    "endpoint": "COALESCE(endpoint, '')",
    KEY_GROUP: f"substr(lower(hex(key_identity)), 1, {SHORT_IDENTITY_HEX})",  # every key's reports
}
_SUMS = (
    "COUNT(*)",
    *(f"SUM({name})" for name in USAGE_FIELDS),
    "SUM(cost_usd)",
    "SUM(cost_usd IS NULL)",
    "SUM(1 - final)",
)
# A period's rows are summed in the index's order (key, day, model, endpoint), which needs no sort,
# and those few sums (days x models x endpoints at most) are added up into the groups asked for.
_INDEX_GROUPS = "key_identity, day, model, endpoint"
_PARTIAL_SUMS = ", ".join(f"{expression} AS s{n}" for n, expression in enumerate(_SUMS))
# (the count of nothing stays 0, as COUNT(*) says it)
_ROLLED_UP_SUMS = ", ".join(["COALESCE(SUM(s0), 0)", *(f"SUM(s{n})" for n in range(1, len(_SUMS)))])


class SqliteLedgerFile:
    """One connection to the ledger file (use it from one thread at a time)."""

    def __init__(self, path: Path, connection: sqlite3.Connection, secret: bytes | None) -> None:
        self.path = path
        self._db = connection
        self._identities = None if secret is None else KeyIdentities(secret)

    # --- opening ------------------------------------------------------------------------------

    @classmethod
    def for_writing(cls, path: Path) -> SqliteLedgerFile:
        """The file, created (0600, and its directory 0700) with its schema if new."""
        _make_directory(path.parent)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # owner-only before SQLite makes it
        db = _connect(path)
        try:
            _retry_while_busy(lambda: db.execute("PRAGMA journal_mode=WAL"))
            db.execute("PRAGMA synchronous=NORMAL")  # durable across a crash of the process, as WAL allows
            secret = _retry_while_busy(lambda: _prepare(db))
        except BaseException:
            db.close()
            raise
        return cls(path, db, secret)

    @classmethod
    def for_reading(cls, path: Path) -> SqliteLedgerFile | None:
        """The file as it is, or None when there is none yet (nothing was ever recorded there)."""
        if not path.exists():
            return None
        db = _connect(path)
        try:
            row = db.execute("SELECT value FROM ledger_meta WHERE name = 'identity_secret'").fetchone()
        except sqlite3.OperationalError as error:
            if "no such table" not in str(error):
                db.close()
                raise
            row = None
        return cls(path, db, None if row is None else bytes(row[0]))

    def close(self) -> None:
        self._db.close()

    # --- identities ------------------------------------------------------------------------------

    def identity(self, key: ApiKey) -> bytes | None:
        """The key's identity in this file (None while the file has no secret, so no rows)."""
        return None if self._identities is None else self._identities.of(key)

    def writer_identity(self, key: ApiKey) -> bytes:
        identity = self.identity(key)
        if identity is None:  # for_writing always reads or makes the secret
            raise LedgerError("the ledger has no identity secret")
        return identity

    # --- writing -------------------------------------------------------------------------------

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert or update the rows, all in one transaction."""

        def transaction() -> None:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(_UPSERT, rows)

        _retry_while_busy(transaction)

    # --- reading -------------------------------------------------------------------------------

    def group_sums(self, identity: bytes | None, period: Period, group_by: Sequence[str]) -> list[GroupSums]:
        """Each group's sums over the period's rows (one key's, or every key's with None)."""
        keys = [_GROUP_COLUMNS[name] for name in group_by]
        where, arguments = _period_filter(identity, period, by_day=True)
        partial = (
            f"SELECT {_INDEX_GROUPS}, {_PARTIAL_SUMS} FROM generations WHERE {where} GROUP BY {_INDEX_GROUPS}"
        )
        grouping = f" GROUP BY {', '.join(keys)}" if keys else ""
        query = f"SELECT {', '.join([*keys, _ROLLED_UP_SUMS])} FROM ({partial}){grouping}"
        width = len(keys)
        return [
            GroupSums(tuple(row[:width]), tuple(row[width:])) for row in self._db.execute(query, arguments)
        ]

    def records(self, identity: bytes | None, period: Period) -> Iterator[dict[str, Any]]:
        """The period's rows in time order, each with its record and when it was seen."""
        where, arguments = _period_filter(identity, period)
        query = (
            "SELECT key_identity, at, first_seen, last_seen, final, record FROM generations "
            f"WHERE {where} ORDER BY at, id"
        )
        for key_identity, at, first_seen, last_seen, final, record in self._db.execute(query, arguments):
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
        where, arguments = ("key_identity = ?", [identity]) if identity is not None else ("1", [])
        count, first, last = self._db.execute(
            f"SELECT COUNT(*), MIN(at), MAX(at) FROM generations WHERE {where}",
            arguments,
        ).fetchone()
        return int(count), first, last

    def not_final(self, identity: bytes, seen_since: float) -> list[str]:
        """Ids of the key's rows not final when last seen, last seen after `seen_since`."""
        query = (
            "SELECT id FROM generations WHERE key_identity = ? AND final = 0 AND last_seen >= ? ORDER BY at"
        )
        return [row[0] for row in self._db.execute(query, (identity, seen_since))]


def _make_directory(directory: Path) -> None:
    """The directory and any missing parent, each owner-only (0700, as XDG asks of data directories;
    mkdir(parents=True) would make the parents by the umask alone)."""
    missing = [folder for folder in (directory, *directory.parents) if not folder.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    return db


def _prepare(db: sqlite3.Connection) -> bytes:
    """Schema and secret, made once even when several processes open a new file at the same moment."""
    with db:
        db.execute("BEGIN IMMEDIATE")
        # The version first: a newer ledger's file is left as it is (the refusal rolls back).
        db.execute(_META_SCHEMA)
        db.execute(
            "INSERT OR IGNORE INTO ledger_meta VALUES ('schema_version', ?), ('identity_secret', ?)",
            (SCHEMA_VERSION, os.urandom(KeyIdentities.SECRET_BYTES)),
        )
        meta = dict(db.execute("SELECT name, value FROM ledger_meta").fetchall())
        _refuse_newer(int(meta["schema_version"]))
        # One statement at a time: executescript would commit before the transaction ends.
        for statement in filter(str.strip, _SCHEMA.split(";")):  # (no ";" inside a statement)
            db.execute(statement)
    return bytes(meta["identity_secret"])


def _refuse_newer(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"it was written by a newer kushrouter-mcp (ledger schema {version}; this one knows "
            f"{SCHEMA_VERSION}), so this one won't write to it: upgrade kushrouter-mcp, or point "
            "KUSHROUTER_MCP_LEDGER at another file"
        )


def _period_filter(identity: bytes | None, period: Period, by_day: bool = False) -> tuple[str, list[Any]]:
    """The period's rows; `by_day` bounds the days too, the range the report index can seek."""
    since, until = period.epoch_bounds()
    conditions: list[str] = []
    arguments: list[Any] = []
    if identity is not None:
        conditions.append("key_identity = ?")
        arguments.append(identity)
    if by_day:  # a row's day is its time's day: these bounds keep every row the times keep
        conditions.append("day BETWEEN ? AND ?")
        arguments += [day_number(since), day_number(until)]
    return " AND ".join([*conditions, "at >= ?", "at < ?"]), [*arguments, since, until]


_BUSY_RETRIES = 5


def _retry_while_busy(action: Callable[[], T]) -> T:
    """`action()`, tried again if another process held the file past the busy timeout."""
    attempt = 0
    while True:
        try:
            return action()
        except sqlite3.OperationalError as error:
            attempt += 1
            if ("locked" not in str(error) and "busy" not in str(error)) or attempt >= _BUSY_RETRIES:
                raise
        time.sleep(0.05 * attempt)
