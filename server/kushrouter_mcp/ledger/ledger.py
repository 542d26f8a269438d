"""The ledger a server writes as it looks records up, off the lookup's path, and reads for reports.

`record()` only queues (a lookup never waits for the disk); one writer thread per process
upserts what is queued, many rows per transaction. A ledger that can't be written logs one
warning and the lookups go on; the queue is bounded, so a broken disk never grows memory.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..reports.periods import Period
from ..reports.report import build_report
from ..settings.config import LEDGER_OFF, Settings
from ..settings.database import DatabaseUrl
from ..settings.keys import ApiKey
from .errors import LedgerError, plain
from .rows import ledger_row

if TYPE_CHECKING:  # sqlite3 and psycopg load with the first write or report: a start pays for none
    from .store import LedgerBackend, LedgerStore

logger = logging.getLogger(__name__)

APP_NAME = "kushrouter-mcp"
FILE_NAME = "ledger.sqlite3"
MAX_PENDING = 100_000  # rows queued at most (about their records' size each); more are dropped, counted
BATCH_ROWS = 1000  # rows per transaction at most
GATHER_SECONDS = 0.05  # how long queued rows wait for more to share their transaction
FLUSH_SECONDS = 5.0  # what a report waits for this process's queued rows at most
# What an ending process waits for them: a stop is due within two seconds (stdio clients, SIGTERM).
EXIT_FLUSH_SECONDS = 1.0


def default_path() -> Path:
    """The ledger in the user's data directory (platformdirs: ~/.local/share, Library/Application
    Support, %LOCALAPPDATA%)."""
    import platformdirs  # only when a ledger is used

    return platformdirs.user_data_path(APP_NAME, appauthor=False) / FILE_NAME


def ledger_for(settings: Settings) -> Ledger | None:
    """The server's ledger, or None when it is off (KUSHROUTER_MCP_LEDGER=off)."""
    if settings.ledger == LEDGER_OFF:
        return None
    if isinstance(settings.ledger, DatabaseUrl):
        return Ledger(database=settings.ledger)
    return Ledger(Path(settings.ledger) if settings.ledger else None)


@dataclass(frozen=True, slots=True)
class LedgerState:
    """What a report says about where its figures came from."""

    where: str  # the file's path, or the database's URL without its password
    exists: bool
    key_rows: int  # rows of the key asked about (every key's when asked for all)
    first_at: float | None
    last_at: float | None
    problem: str | None  # why the last write failed, if it did


class Ledger:
    """Rows queued by lookups, written by one thread; reports read the file directly."""

    def __init__(
        self,
        path: Path | None = None,
        clock: Callable[[], float] = time.time,
        backend: LedgerBackend | None = None,
        database: DatabaseUrl | None = None,
    ) -> None:
        self._path = path
        self._backend = backend
        self._database = database  # PostgreSQL: its backend (and psycopg) made on first use
        self._clock = clock
        self._pending: deque[tuple[ApiKey, dict[str, Any], float]] = deque()
        self._changed = threading.Condition()
        self._queued = 0  # rows ever queued
        self._flushing = 0  # callers waiting in flush()
        self._handled = 0  # rows written or given up on
        self._writer: threading.Thread | None = None
        self._closing = False
        self._file: LedgerStore | None = None
        self.problem: str | None = None  # why writing fails now; None while it works
        self.dropped = 0  # rows not written: the queue overflowed, or writing failed
        self._overflowed = 0

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = default_path()
        return self._path

    @property
    def backend(self) -> LedgerBackend:
        """Where the rows go: the PostgreSQL database if one was given, else the file at `path`."""
        if self._backend is None and self._database is not None:
            from .postgres import PostgresBackend  # psycopg loads here, on first use

            self._backend = PostgresBackend(self._database)
        if self._backend is None:
            from .sqlite import SqliteBackend

            self._backend = SqliteBackend(self.path)
        return self._backend

    @property
    def where(self) -> str:
        """The file's path, or the database's URL without its password (no import needed)."""
        return str(self._database) if self._database is not None else self.backend.where

    # --- writing (lookups) ------------------------------------------------------------------------

    def record(self, key: ApiKey, record: dict[str, Any]) -> None:
        """Queue the record seen with `key`; returns at once."""
        with self._changed:
            if self._closing:
                return
            if len(self._pending) >= MAX_PENDING:
                self._drop(1)
                return
            self._pending.append((key, record, self._clock()))
            self._queued += 1
            if self._writer is None:
                self._start_writer()
            if len(self._pending) in (1, BATCH_ROWS):  # the writer waits for a first row, or a full batch
                self._changed.notify()

    def flush(self, timeout: float = FLUSH_SECONDS) -> bool:
        """Wait until every row queued so far is written (or given up on); False on timeout."""
        with self._changed:
            target = self._queued
            self._flushing += 1
            self._changed.notify_all()  # the writer stops gathering: someone waits for these rows
            try:
                return self._changed.wait_for(lambda: self._handled >= target, timeout)
            finally:
                self._flushing -= 1

    def close(self, timeout: float = FLUSH_SECONDS) -> None:
        """Write what is queued (for at most `timeout` s), then stop the writer."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join(timeout)
        if writer is not None and writer.is_alive():
            logger.warning("the ledger's last %d rows were not written in time", len(self._pending))
        elif self._backend is not None:
            self._backend.close()  # a database's connection pool; a later read opens a new one

    def _start_writer(self) -> None:
        self._writer = threading.Thread(target=self._write_queued, name="kushrouter-mcp ledger", daemon=True)
        self._writer.start()
        atexit.register(self.close, EXIT_FLUSH_SECONDS)  # a normal exit writes the queue out first

    def _write_queued(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._closing)
                # Rows queued in the next moments share one transaction: one commit for many lookups
                # (a transaction per lookup cost ~7% of a lookup's time), unless someone waits for them.
                self._changed.wait_for(self._write_now, GATHER_SECONDS)
                if not self._pending:
                    break
                batch = [self._pending.popleft() for _ in range(min(len(self._pending), BATCH_ROWS))]
            self._write(batch)
            with self._changed:
                self._handled += len(batch)
                self._changed.notify_all()
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write_now(self) -> bool:
        return self._closing or self._flushing > 0 or len(self._pending) >= BATCH_ROWS

    def _write(self, batch: Sequence[tuple[ApiKey, dict[str, Any], float]]) -> None:
        try:
            ledger_file = self._file or self._open()
            rows = [ledger_row(ledger_file.writer_identity(key), record, seen) for key, record, seen in batch]
            ledger_file.write(rows)
        except Exception as error:  # sqlite3.Error, OSError, LedgerError: whatever it is, lookups go on
            self._failed(error, len(batch))
            return
        if self.problem is not None:
            logger.warning("the ledger %s is written again", self.where)
            self.problem = None

    def _open(self) -> LedgerStore:
        self._file = self.backend.for_writing()
        return self._file

    def _failed(self, error: Exception, rows: int) -> None:
        if self._file is not None:  # opened afresh next time: the file may have been replaced or fixed
            self._file.close()
            self._file = None
        problem = plain(error)
        if problem != self.problem:  # once per distinct problem, not once per lookup
            logger.warning(
                "the ledger %s can't be written (%s); lookups go on without it. Fix that, or set "
                "KUSHROUTER_MCP_LEDGER to %s or to off",
                self.where,
                problem,
                self.backend.elsewhere,
            )
        self.problem = problem
        self.dropped += rows

    def _drop(self, rows: int) -> None:
        self.dropped += rows
        self._overflowed += rows
        if self._overflowed == rows:  # the first overflow: said once, not once per lookup
            logger.warning(
                "the ledger's writer is behind by %d rows; new rows are dropped until it catches up",
                MAX_PENDING,
            )

    # --- reading (reports) ------------------------------------------------------------------------

    def report(
        self, key: ApiKey | None, period: Period, group_by: Sequence[str], limit: int
    ) -> tuple[dict[str, Any], LedgerState]:
        """The report of `key`'s rows (every key's with None), and the ledger's state for its notes."""
        self.flush()  # this process's own lookups count in its report
        with self._reading() as ledger_file:
            if ledger_file is None:
                return build_report(period, group_by, [], limit), self._state(False, 0, None, None)
            identity = None if key is None else ledger_file.identity(key)
            if key is not None and identity is None:
                return build_report(period, group_by, [], limit), self._state(True, 0, None, None)
            groups = ledger_file.group_sums(identity, period, group_by)
            report = build_report(period, group_by, groups, limit)
            rows, first, last = (
                ledger_file.span(identity) if not report["totals"]["generations"] else (0, None, None)
            )
            return report, self._state(True, rows, first, last)

    def records(self, key: ApiKey | None, period: Period) -> Iterator[dict[str, Any]]:
        """The period's rows one by one, each with its record (for exports)."""
        self.flush()
        with self._reading() as ledger_file:
            if ledger_file is None:
                return
            identity = None if key is None else ledger_file.identity(key)
            if key is not None and identity is None:
                return
            yield from ledger_file.records(identity, period)

    def not_final(self, key: ApiKey, seen_since: float) -> list[str]:
        """Ids the key saw before they were final, last seen after `seen_since` (for --refresh)."""
        self.flush()
        with self._reading() as ledger_file:
            identity = None if ledger_file is None else ledger_file.identity(key)
            return (
                [] if ledger_file is None or identity is None else ledger_file.not_final(identity, seen_since)
            )

    @contextmanager
    def _reading(self) -> Iterator[LedgerStore | None]:
        """A store of its own for one read (None when there is no ledger yet); any failure to
        read becomes a LedgerError that says which ledger and why."""
        ledger_file = None
        try:
            ledger_file = self.backend.for_reading()
            yield ledger_file
        except LedgerError:
            raise
        except Exception as error:  # sqlite3.Error (corrupt, not a database), OSError, psycopg.Error
            raise LedgerError(self.backend.read_error(error)) from None
        finally:
            if ledger_file is not None:
                ledger_file.close()

    def _state(self, exists: bool, rows: int, first: float | None, last: float | None) -> LedgerState:
        return LedgerState(self.where, exists, rows, first, last, self.problem)
