"""The ledger a server writes as it looks records up, off the lookup's path, and reads for reports.

`record()` only queues (a lookup never waits for the disk); one writer thread per process
upserts what is queued, many rows per transaction. A ledger that can't be written logs one
warning and the lookups go on; their rows stay queued, in order, and are written again after a
growing pause (a flush, a report or a stop tries at once): upserts are idempotent, so a batch that
may have half-landed is safe to write again. The queue is bounded, so a long outage never grows
memory: only rows past the bound are dropped, and counted.
"""

from __future__ import annotations

import atexit
import itertools
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
# What an ending process waits for them at least: a stdio stop is due within two seconds; over HTTP
# the stop gives them what is left of the graceful timeout, if that is more (face/app.py).
EXIT_FLUSH_SECONDS = 1.0
# After a failed write, the pause before the next: doubling from the first to the last, so a
# database that is down costs a try every 15 s, and one that blinks loses a second at most.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 15.0
STOPPING_RETRY_SECONDS = 0.5  # while a stop waits for the queue: its budget is seconds, not minutes


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
    pending: int = 0  # rows of this process waiting to be written


OK, DEGRADED, OFF = "ok", "degraded", "off"


@dataclass(frozen=True, slots=True)
class LedgerHealth:
    """What /healthz says about the ledger: nothing secret (no URL, no password, no key)."""

    state: str  # OK, DEGRADED (writes fail, or the queue is full) or OFF
    backend: str | None  # "sqlite" or "postgresql"; None when off
    pending_rows: int  # rows waiting to be written
    dropped_rows: int  # rows dropped since start: the queue was full
    problem: str | None  # why writing fails now, as the warning says it

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "backend": self.backend,
            "pending_rows": self.pending_rows,
            "dropped_rows": self.dropped_rows,
            "problem": self.problem,
        }


def _next_pause(pause: float) -> float:
    """The pause after one more failed write: doubled, from the first to the last."""
    return min(max(2 * pause, RETRY_FIRST_SECONDS), RETRY_MAX_SECONDS)


def ledger_health(ledger: Ledger | None) -> LedgerHealth:
    """The ledger's health, `off` when there is none."""
    return LedgerHealth(OFF, None, 0, 0, None) if ledger is None else ledger.health()


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
        # Rows stay here until written: the writer copies a batch, and takes it off once committed.
        self._pending: deque[tuple[ApiKey, dict[str, Any], float]] = deque()
        self._changed = threading.Condition()
        self._queued = 0  # rows ever queued
        self._handled = 0  # rows ever taken off the queue: written, or refused by the database
        self._flushing = 0  # callers waiting in flush()
        self._draining = 0  # callers waiting in write_out(): a stop
        self._attempts = 0  # writes begun
        self._last_failed = 0  # the number of the last write that failed
        self._retry_seconds = 0.0  # the pause before the next write; 0 while writing works
        self._retry_now = False  # a flush or a stop asks for a write at once, pause or not
        # Finding a row the database refuses (a bad value) among rows it can't take for now (it is
        # down): after failures, batches halve; a row failing alone has the next row tried alone
        # (`_probing`), and if that one is written, the first is tried once more (`_on_trial`).
        self._batch_rows = BATCH_ROWS
        self._probing = False
        self._on_trial = False
        self._writer: threading.Thread | None = None
        self._closing = False
        self._said_unwritten = False  # a stop's warning about rows left unwritten, said once
        self._file: LedgerStore | None = None
        self.problem: str | None = None  # why writing fails now; None while it works
        self._problems_said: set[str] = set()  # warned about since writing last worked
        self.dropped = 0  # rows lost: the queue was full, or the database refused the row itself
        self._dropped_said = 0  # the count the last overflow warning gave

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

    @property
    def kind(self) -> str:
        """`sqlite` or `postgresql`, without loading either driver (a health probe needs neither)."""
        if self._backend is not None:
            return self._backend.kind
        return "postgresql" if self._database is not None else "sqlite"

    @property
    def pending(self) -> int:
        """Rows waiting to be written (the batch being written included)."""
        with self._changed:
            return len(self._pending)

    def health(self) -> LedgerHealth:
        with self._changed:
            pending, problem = len(self._pending), self.problem
        degraded = problem is not None or pending >= MAX_PENDING
        return LedgerHealth(DEGRADED if degraded else OK, self.kind, pending, self.dropped, problem)

    # --- writing (lookups) ------------------------------------------------------------------------

    def record(self, key: ApiKey, record: dict[str, Any]) -> None:
        """Queue the record seen with `key`; returns at once."""
        with self._changed:
            if self._closing:
                return
            if len(self._pending) >= MAX_PENDING:
                self._drop()
                return
            self._pending.append((key, record, self._clock()))
            self._queued += 1
            if self._writer is None:
                self._start_writer()
            if len(self._pending) in (1, BATCH_ROWS):  # the writer waits for a first row, or a full batch
                self._changed.notify()

    def flush(self, timeout: float = FLUSH_SECONDS) -> bool:
        """Write every row queued so far, at once (a pause after a failure is cut short); False when
        a write fails or `timeout` passes first."""
        with self._changed:
            target = self._queued
            first_attempt = self._attempts + 1  # a write that fails from here on ends the wait
            self._flushing += 1
            self._retry_now = True
            self._changed.notify_all()  # the writer stops gathering or pausing: someone waits
            try:
                self._changed.wait_for(
                    lambda: self._handled >= target or self._last_failed >= first_attempt, timeout
                )
                return self._handled >= target
            finally:
                self._flushing -= 1

    def write_out(self, timeout: float = FLUSH_SECONDS) -> int:
        """What a stop does: write every row queued so far, trying again every half second for up
        to `timeout` s (a flush gives up at the first failure); the rows left unwritten, said in a
        warning (once)."""
        with self._changed:
            target = self._queued
            self._draining += 1
            self._retry_now = True
            self._changed.notify_all()
            try:
                self._changed.wait_for(lambda: self._handled >= target, timeout)
                left = max(0, target - self._handled)
            finally:
                self._draining -= 1
        if left and not self._said_unwritten:
            self._said_unwritten = True
            logger.warning(
                "the ledger's last %d rows were not written in time (%s); they are lost",
                left,
                self.problem or "the writer was still busy",
            )
        return left

    def close(self, timeout: float = FLUSH_SECONDS) -> int:
        """Write what is queued (see write_out), then stop the writer; the rows left unwritten."""
        # A stop that already gave up on rows (the lifespan's write_out) said so; don't wait again.
        waited = self._writer is None or self._said_unwritten
        left = self.pending if waited else self.write_out(timeout)
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join(STOPPING_RETRY_SECONDS)  # a write under way may end; the thread is a daemon
        if (writer is None or not writer.is_alive()) and self._backend is not None:
            self._backend.close()  # a database's connection pool; a later read opens a new one
        return left

    def _start_writer(self) -> None:
        self._writer = threading.Thread(target=self._write_queued, name="kushrouter-mcp ledger", daemon=True)
        self._writer.start()
        atexit.register(self.close, EXIT_FLUSH_SECONDS)  # a normal exit writes the queue out first

    def _write_queued(self) -> None:
        while True:
            with self._changed:
                offset, batch = self._next_batch()
                if not batch:
                    break
                self._attempts += 1
                attempt = self._attempts
            error = self._write(batch)
            with self._changed:
                if error is None:
                    self._written(offset, len(batch))
                else:
                    self._last_failed = attempt
                    self._not_written(offset, batch, error)
                self._changed.notify_all()
        if self._file is not None:
            self._file.close()
            self._file = None

    def _next_batch(self) -> tuple[int, list[tuple[ApiKey, dict[str, Any], float]]]:
        """Where in the queue the next rows to write start, and the rows, after the pause or
        gathering they are due; none once stopped. Called with the lock held."""
        self._changed.wait_for(lambda: self._pending or self._closing)
        if self._retry_seconds:  # the last write failed: pause, unless someone waits for the rows
            pause = self._retry_seconds
            if self._draining:
                pause = min(pause, STOPPING_RETRY_SECONDS)
            self._changed.wait_for(lambda: self._retry_now or self._closing, pause)
        else:
            # Rows queued in the next moments share one transaction: one commit for many lookups
            # (a transaction per lookup cost ~7% of a lookup's time), unless someone waits for them.
            self._changed.wait_for(self._write_now, GATHER_SECONDS)
        self._retry_now = False
        if self._closing:  # close() wrote out what it could before it said so
            return 0, []
        if self._probing and len(self._pending) > 1:
            return 1, [self._pending[1]]
        return 0, list(itertools.islice(self._pending, self._batch_rows))

    def _write_now(self) -> bool:
        return self._closing or self._flushing > 0 or self._draining > 0 or len(self._pending) >= BATCH_ROWS

    def _write(self, batch: Sequence[tuple[ApiKey, dict[str, Any], float]]) -> Exception | None:
        """Write the batch in one transaction; the error if it failed (the rows stay queued)."""
        try:
            ledger_file = self._file or self._open()
            rows = [ledger_row(ledger_file.writer_identity(key), record, seen) for key, record, seen in batch]
            ledger_file.write(rows)
        except Exception as error:  # sqlite3.Error, OSError, LedgerError: whatever it is, lookups go on
            if self._file is not None:  # opened afresh next time: the file may have been replaced or fixed
                self._file.close()
                self._file = None
            return error
        return None

    def _written(self, offset: int, rows: int) -> None:
        """Take the rows written off the queue (called with the lock held)."""
        if offset:  # the row behind one that failed alone went in: try that one again, at once
            del self._pending[offset]
            self._on_trial = True
        else:
            for _ in range(rows):
                self._pending.popleft()
            self._batch_rows, self._on_trial = BATCH_ROWS, False
        self._handled += rows
        self._retry_seconds, self._probing = 0.0, False
        if self.problem is not None:
            logger.warning("the ledger %s is written again; the rows that waited go first", self.where)
            self.problem = None
            self._problems_said.clear()

    def _not_written(self, offset: int, batch: Sequence[tuple[ApiKey, Any, float]], error: Exception) -> None:
        """Plan the next try after a failed one (called with the lock held)."""
        if not offset and len(batch) == 1 and self._on_trial:  # it fails alone, the next row did not
            self._refused(batch[0][1], error)
            return
        if offset:  # the next row failed alone too: the database, not a row
            self._probing = False
        elif len(batch) > 1:
            self._batch_rows = max(1, len(batch) // 2)
        else:
            self._probing = True
        self._retry_seconds = _next_pause(self._retry_seconds)
        self._failed(error)

    def _refused(self, record: dict[str, Any], error: Exception) -> None:
        """The database takes the rows around this one, not this one: leave it out, say so."""
        self._pending.popleft()
        self._handled += 1
        self.dropped += 1
        self._on_trial = False
        logger.warning(
            "the ledger %s refused the row of generation %s (%s); it is left out, and the rows after it "
            "are written",
            self.where,
            record.get("id"),
            plain(error),
        )

    def _open(self) -> LedgerStore:
        self._file = self.backend.for_writing()
        return self._file

    def _failed(self, error: Exception) -> None:
        problem = plain(error)
        if problem not in self._problems_said:  # once per distinct problem, not once per try
            self._problems_said.add(problem)
            logger.warning(
                "the ledger %s can't be written (%s); lookups go on, and their rows wait in memory (up to "
                "%d) to be written once it can be. Fix that, or set KUSHROUTER_MCP_LEDGER to %s or to off",
                self.where,
                problem,
                MAX_PENDING,
                self.backend.elsewhere,
            )
        self.problem = problem

    def _drop(self) -> None:
        """Count a row the full queue can't take; say so at the first, then at each tenfold count."""
        self.dropped += 1
        if self.dropped >= 10 * self._dropped_said or self._dropped_said == 0:
            self._dropped_said = self.dropped
            logger.warning(
                "the ledger's queue is full (%d rows wait to be written); new rows are dropped until it "
                "drains: %d so far",
                MAX_PENDING,
                self.dropped,
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
        return LedgerState(self.where, exists, rows, first, last, self.problem, self.pending)
