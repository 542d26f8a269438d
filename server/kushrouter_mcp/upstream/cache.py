"""A bounded, expiring LRU of final generation records, per key identity.

A completed generation never changes, so a repeated lookup can be answered from memory.
Only final records are kept (see `is_final`); errors and 404s never are. The key identity
is part of the cache key, so a record read with one API key is never served to another.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

Record = dict[str, Any]


def is_final(record: Record) -> bool:
    """A record without `status`, or with status "completed", will not change any more."""
    status = record.get("status")
    return status is None or status == "completed"


class RecordCache:
    """LRU of at most `max_entries` records, each kept `ttl_seconds` at most; 0 entries turns it off.

    Records are shared, not copied: callers treat them as read-only (they are only serialised).
    """

    def __init__(
        self, max_entries: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_entries = max_entries
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[tuple[bytes, str], tuple[float, Record]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, identity: bytes, generation_id: str) -> Record | None:
        slot = (identity, generation_id)
        entry = self._entries.get(slot)
        if entry is None:
            return None
        expires, record = entry
        if self._clock() >= expires:
            del self._entries[slot]
            return None
        self._entries.move_to_end(slot)
        return record

    def put(self, identity: bytes, generation_id: str, record: Record) -> None:
        """Keep `record` if it is final; evict the least recently used entry when full."""
        if self._max_entries <= 0 or not is_final(record):
            return
        slot = (identity, generation_id)
        self._entries[slot] = (self._clock() + self._ttl, record)
        self._entries.move_to_end(slot)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
