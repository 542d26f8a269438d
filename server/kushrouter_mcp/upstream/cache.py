"""A bounded, expiring LRU of final generation records, per key identity.

A completed generation never changes, so a repeated lookup can be answered from memory.
Only final records are kept (see `is_final`); errors and 404s never are. The key identity
is part of the cache key, so a record read with one API key is never served to another.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

Record = dict[str, Any]


def is_final(record: Record) -> bool:
    """A record without `status`, or with status "completed", will not change any more."""
    status = record.get("status")
    return status is None or status == "completed"


K = TypeVar("K")
V = TypeVar("V")


class ExpiringLru(Generic[K, V]):
    """At most `max_entries` values, each kept until its own expiry; the least recently used goes
    first when full. 0 entries keeps nothing."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V, ttl_seconds: float) -> None:
        if self._max_entries <= 0:
            return
        self._entries[key] = (self._clock() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


class RecordCache:
    """LRU of at most `max_entries` records, each kept `ttl_seconds` at most; 0 entries turns it off.

    Records are shared, not copied: callers treat them as read-only (they are only serialised).
    """

    def __init__(
        self, max_entries: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._records: ExpiringLru[tuple[bytes, str], Record] = ExpiringLru(max_entries, clock)

    def __len__(self) -> int:
        return len(self._records)

    def get(self, identity: bytes, generation_id: str) -> Record | None:
        return self._records.get((identity, generation_id))

    def put(self, identity: bytes, generation_id: str, record: Record) -> None:
        """Keep `record` if it is final; evict the least recently used entry when full."""
        if is_final(record):
            self._records.put((identity, generation_id), record, self._ttl)
