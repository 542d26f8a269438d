"""The ledger in PostgreSQL: one database shared by every replica (KUSHROUTER_MCP_LEDGER=postgresql://…).

psycopg 3 with a psycopg_pool ConnectionPool, used synchronously from the Ledger's writer thread and
from reports' worker threads (the Ledger keeps storage work off the event loop already). The pool
opens on the first write or report, never at start-up, and gives a connection within
CONNECT_SECONDS or fails: a database that is down costs a lookup nothing and a report a few seconds.
Every driver error becomes DatabaseUnavailable: one line with advice, scrubbed of the password.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from ..settings.database import REDACTED, DatabaseUrl, redact
from .sql import MIGRATIONS, POSTGRES, Migration, SqlLedgerStore, prepare, secret_and_version

CONNECT_SECONDS = 5  # libpq's connect_timeout unless the URL sets one, and the pool's wait for a connection
PROBE_SECONDS = 2  # the connection made to learn why the pool had none
POOL_SIZE = 4  # the writer thread and a few reports at once
ELSEWHERE = "another database"
# pg_advisory_xact_lock's key for creating or upgrading the schema: "kushledg" as a bigint, a number
# no other application is likely to lock.
SCHEMA_LOCK = int.from_bytes(b"kushledg", "big") - (1 << 63)
# pg_advisory_xact_lock(KEY_LOCKS, n) holds a key identity's rows (n: its first 4 bytes) for one
# write; the two-key form is a lock space of its own, apart from SCHEMA_LOCK's.
KEY_LOCKS = int.from_bytes(b"kush", "big")
GRANTS = (
    "the user needs CONNECT on the database, CREATE on the schema (and to own the tables) for the first "
    "start and a schema upgrade, then SELECT, "
    "INSERT and UPDATE on ledger_meta and generations, and DELETE too on daily_sums (docs/ledger.md, "
    "'PostgreSQL')"
)
# Transaction rollbacks (SQLSTATE class 40): the write met another, not a broken connection. psycopg
# makes these OperationalErrors of their own, not subclasses of TransactionRollback.
ROLLED_BACK = (pg_errors.TransactionRollback, pg_errors.DeadlockDetected, pg_errors.SerializationFailure)
REACH = "check the URL's host, port, user and password, and that the server is running and accepts them"


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be used (unreachable, refused, a grant missing): the message is the
    driver's first line with advice, scrubbed of the password."""


class PostgresStore(SqlLedgerStore):
    """The ledger's tables, through the backend's pool: each call takes a connection and gives it back."""

    dialect = POSTGRES

    def __init__(self, backend: PostgresBackend, secret: bytes | None, version: int) -> None:
        super().__init__(secret, version)
        self._backend = backend

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert or update the rows, all in one transaction (executemany pipelines them: one round
        trip for the batch, not one per row). The triggers keep daily_sums, whose rows replicas
        writing the same key's day contend for; a row moved to another day locks its old day too, so
        two such writes could each hold a day the other wants. A lock per key identity, taken first
        and in order, lets one write of a key's rows at a time: a deadlock can't form."""
        with self._backend.connection() as connection, connection.cursor() as cursor:
            for key_lock in sorted({int.from_bytes(bytes(row[0])[:4], "big", signed=True) for row in rows}):
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (KEY_LOCKS, key_lock))
            cursor.executemany(POSTGRES.statements.upsert, rows)

    def _rows(self, query: str, arguments: Sequence[Any]) -> Iterable[Sequence[Any]]:
        with self._backend.connection() as connection:
            yield from connection.execute(query, arguments)

    def close(self) -> None:
        """Nothing to let go: the connections are the pool's."""


class PostgresBackend:
    """A PostgreSQL database holding the ledger, and the pool of connections to it."""

    elsewhere = ELSEWHERE
    kind = "postgresql"  # what /healthz calls it

    def __init__(self, url: DatabaseUrl, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self._url = url
        self._migrations = migrations
        self._pool: ConnectionPool | None = None
        self._pool_lock = threading.Lock()

    @property
    def where(self) -> str:
        return str(self._url)

    def for_writing(self) -> PostgresStore:
        """The store, after creating or upgrading the schema in one transaction under an advisory
        lock: replicas starting at once wait for each other, and the first creates it."""
        with self.connection() as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            secret = prepare(connection, POSTGRES, ELSEWHERE, self._migrations)
        return PostgresStore(self, secret, len(self._migrations))

    def for_reading(self) -> PostgresStore | None:
        """The store, or None while the database has no ledger (no server wrote to it yet)."""
        with self.connection() as connection:
            if connection.execute(POSTGRES.meta_exists).fetchone() is None:
                return None
            secret, version = secret_and_version(connection)
        return PostgresStore(self, secret, version)

    def exists(self) -> bool:
        """Not known without asking the database; a read says so (an empty report) if it has none."""
        return True

    def read_error(self, error: Exception) -> str:
        why = str(error) if isinstance(error, DatabaseUnavailable) else self.describe(error)
        return f"the ledger {self.where} can't be read ({why})"

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection of the pool (committed when the block ends, rolled back on an error); any
        failure of the database as DatabaseUnavailable."""
        try:
            with self._opened_pool().connection() as connection:
                yield connection
        except PoolTimeout as error:
            raise DatabaseUnavailable(self.describe(self._why_no_connection(error))) from None
        except psycopg.Error as error:
            raise DatabaseUnavailable(self.describe(error)) from None

    def _why_no_connection(self, timeout: PoolTimeout) -> Exception:
        """The pool says only that it had no connection in time; one connection made here says why
        (refused, a wrong password, a missing database), or the timeout stands if it succeeds."""
        try:
            psycopg.connect(self._url.reveal(), connect_timeout=PROBE_SECONDS).close()
        except psycopg.Error as error:
            return error
        return timeout

    def _opened_pool(self) -> ConnectionPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = self._new_pool()
            return self._pool

    def _new_pool(self) -> ConnectionPool:
        conninfo = self._url.reveal()
        try:
            given = conninfo_to_dict(conninfo)
        except psycopg.Error as error:
            raise DatabaseUnavailable(self.describe(error)) from None
        options: dict[str, Any] = {"autocommit": False}
        if "connect_timeout" not in given:
            options["connect_timeout"] = CONNECT_SECONDS
        if "application_name" not in given:
            options["application_name"] = "kushrouter-mcp"
        pool: ConnectionPool = ConnectionPool(
            conninfo,
            kwargs=options,
            min_size=1,
            max_size=POOL_SIZE,
            timeout=CONNECT_SECONDS,
            # A connection is checked as it leaves the pool: after the database restarted, a dead one
            # is replaced then rather than failing a write.
            check=ConnectionPool.check_connection,
            name="kushrouter-mcp ledger",
            open=False,
        )
        pool.open(wait=False)  # connects in the background; the first use waits CONNECT_SECONDS at most
        return pool

    def close(self) -> None:
        """Close the pool (a later use opens a new one)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(timeout=CONNECT_SECONDS)

    def describe(self, error: Exception) -> str:
        """The driver's error in one line, with advice, never the password."""
        if isinstance(error, PoolTimeout):
            # The probe connected, so the server is up: the pool's connections were all in use, or
            # it was still reconnecting after a restart (its own backoff).
            text = (
                f"no connection from the pool within {CONNECT_SECONDS} s (all {POOL_SIZE} in use, or "
                "reconnecting after the database restarted)"
            )
        elif isinstance(error, pg_errors.InsufficientPrivilege):
            text = f"{_one_line(error)}: {GRANTS}"
        elif isinstance(error, ROLLED_BACK):
            text = f"{_one_line(error)}: the database rolled the write back, and it is tried again"
        elif isinstance(error, psycopg.OperationalError):
            text = f"{_one_line(error)}: {REACH}"
        else:
            text = _one_line(error)
        return self.scrub(text)

    def scrub(self, text: str) -> str:
        """`text` without the password, in any form the connection string holds it."""
        for password in self._url.passwords():
            text = text.replace(password, REDACTED)
        return redact(text) if "password" in text.lower() else text


def _one_line(error: Exception) -> str:
    """The message's first line: libpq adds a hint under it ("Is the server running…?") that our
    advice says better, and a log line is one line."""
    return re.sub(r"\s+", " ", str(error).strip().split("\n", 1)[0]) or type(error).__name__
