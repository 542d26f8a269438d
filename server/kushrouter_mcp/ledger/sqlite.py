"""The ledger's SQLite file: opening it (schema and secret from ledger/sql.py), upserts, and the
reads reports make (SqlLedgerStore's, on this connection).

WAL mode and a long busy timeout are what make several processes on one file safe: readers never
block the writer, and a writer waits its turn instead of failing with "database is locked". The
file and its -wal/-shm companions are created owner-only (0600): they hold what was spent.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .errors import plain
from .sql import MIGRATIONS, SQLITE, Migration, SqlLedgerStore, prepare, secret_and_version

T = TypeVar("T")
BUSY_TIMEOUT_SECONDS = 30.0
ELSEWHERE = "another file"


class SqliteLedgerFile(SqlLedgerStore):
    """One connection to the ledger file (use it from one thread at a time)."""

    dialect = SQLITE

    def __init__(
        self, path: Path, connection: sqlite3.Connection, secret: bytes | None, version: int
    ) -> None:
        super().__init__(secret, version)
        self.path = path
        self._db = connection

    # --- opening ------------------------------------------------------------------------------

    @classmethod
    def for_writing(cls, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> SqliteLedgerFile:
        """The file, created (0600, and its directory 0700) with its schema if new, upgraded if old."""
        _make_directory(path.parent)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # owner-only before SQLite makes it
        db = _connect(path)
        try:
            _retry_while_busy(lambda: db.execute("PRAGMA journal_mode=WAL"))
            db.execute("PRAGMA synchronous=NORMAL")  # durable across a crash of the process, as WAL allows
            secret = _retry_while_busy(lambda: _prepare(db, migrations))
        except BaseException:
            db.close()
            raise
        return cls(path, db, secret, len(migrations))

    @classmethod
    def for_reading(cls, path: Path) -> SqliteLedgerFile | None:
        """The file as it is, or None when there is none yet (nothing was ever recorded there)."""
        if not path.exists():
            return None
        db = _connect(path)
        try:
            secret, version = secret_and_version(db)
        except sqlite3.OperationalError as error:
            if "no such table" not in str(error):
                db.close()
                raise
            secret, version = None, 0
        return cls(path, db, secret, version)

    def close(self) -> None:
        self._db.close()

    # --- writing -------------------------------------------------------------------------------

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert or update the rows, all in one transaction (the triggers keep daily_sums; the
        file's write lock keeps other writers out meanwhile)."""

        def transaction() -> None:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(SQLITE.statements.upsert, rows)

        _retry_while_busy(transaction)

    def _rows(self, query: str, arguments: Sequence[Any]) -> Iterable[Sequence[Any]]:
        return self._db.execute(query, arguments)


class SqliteBackend:
    """The ledger in a file (the default: one per machine, shared by its processes)."""

    elsewhere = ELSEWHERE
    kind = "sqlite"  # what /healthz calls it

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def where(self) -> str:
        return str(self.path)

    def for_writing(self) -> SqliteLedgerFile:
        return SqliteLedgerFile.for_writing(self.path)

    def for_reading(self) -> SqliteLedgerFile | None:
        return SqliteLedgerFile.for_reading(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    def read_error(self, error: Exception) -> str:
        return f"the ledger {self.path} can't be read ({plain(error)}){_hint(error)}"

    def close(self) -> None:
        """Nothing held between uses: each store is its own connection."""


def _hint(error: Exception) -> str:
    """What SQLite's words mean where they mislead: reading a WAL file needs its -shm beside it."""
    if "readonly" in str(error):
        return "; reading it needs write access to its directory, for SQLite's -shm file beside it"
    return ""


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


def _prepare(db: sqlite3.Connection, migrations: Sequence[Migration]) -> bytes:
    """Schema and secret, made once even when several processes open a new file at the same moment:
    BEGIN IMMEDIATE holds the file's write lock for the whole check."""
    with db:
        db.execute("BEGIN IMMEDIATE")
        return prepare(db, SQLITE, ELSEWHERE, migrations)


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
