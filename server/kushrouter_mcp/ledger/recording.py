"""Lookups that leave their records in the ledger as they pass."""

from __future__ import annotations

from ..settings.keys import ApiKey
from ..upstream.batch import RecordLookup
from ..upstream.client import Lookup
from .ledger import Ledger


class RecordingLookup:
    """A RecordLookup whose found records (cache hits too: seen again) are queued for the ledger."""

    def __init__(self, records: RecordLookup, ledger: Ledger) -> None:
        self.records = records
        self.ledger = ledger

    async def lookup(self, generation_id: str, key: ApiKey | None, wait_seconds: float = 0.0) -> Lookup:
        found = await self.records.lookup(generation_id, key, wait_seconds)
        if key is not None:  # a lookup without a key has failed before here
            self.ledger.record(key, found.record)
        return found
