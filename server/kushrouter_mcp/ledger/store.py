"""What the Ledger needs of a backend (SQLite file or PostgreSQL database), and of a store opened on it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from ..reports.periods import Period
from ..reports.report import GroupSums
from ..settings.keys import ApiKey


class LedgerStore(Protocol):
    """The ledger opened: its key identities, the upsert, the reads reports make. Used by one thread
    at a time (the writer thread, or one report's worker thread)."""

    def identity(self, key: ApiKey) -> bytes | None: ...

    def writer_identity(self, key: ApiKey) -> bytes: ...

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None: ...

    def group_sums(
        self, identity: bytes | None, period: Period, group_by: Sequence[str]
    ) -> list[GroupSums]: ...

    def records(self, identity: bytes | None, period: Period) -> Iterator[dict[str, Any]]: ...

    def span(self, identity: bytes | None) -> tuple[int, float | None, float | None]: ...

    def not_final(self, identity: bytes, seen_since: float) -> list[str]: ...

    def close(self) -> None: ...


class LedgerBackend(Protocol):
    """Where the ledger lives: opens stores on it, and says how messages name it."""

    @property
    def where(self) -> str:
        """How logs and notes name it: the file's path, or the URL without its password."""
        ...

    @property
    def kind(self) -> str:
        """What /healthz calls it: `sqlite` or `postgresql`."""
        ...

    @property
    def elsewhere(self) -> str:
        """The end of advice to point KUSHROUTER_MCP_LEDGER somewhere else: `another file`."""
        ...

    def for_writing(self) -> LedgerStore:
        """The store, its schema created or upgraded first; LedgerError or the driver's error."""
        ...

    def for_reading(self) -> LedgerStore | None:
        """The store as it is, or None when nothing was ever recorded there."""
        ...

    def exists(self) -> bool:
        """Whether there is a ledger there yet (a file; a database is asked when read)."""
        ...

    def read_error(self, error: Exception) -> str:
        """A failure to read as one phrase with advice: never a password."""
        ...

    def close(self) -> None:
        """Let go of what the backend holds (a connection pool)."""
        ...
