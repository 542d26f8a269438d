"""Many lookups at once: bounded concurrency, one outcome per distinct id, usage totals.

One id's failure never fails the batch. Each id's task only stores its outcome; counting and
summing happen once at the end, so nothing per id stands between one request and the next.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import anyio

from ..records.ids import InvalidGenerationId, check_generation_id
from ..records.totals import usage_totals
from ..settings.keys import ApiKey
from .client import Lookup
from .failures import ErrorKind, LookupFailed
from .polling import PollSchedule, note_wait

MAX_BATCH_IDS = 500

Progress = Callable[[int, int], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class RecordLookup(Protocol):
    async def lookup(self, generation_id: str, key: ApiKey | None, wait_seconds: float = 0.0) -> Lookup: ...


def checked_distinct(ids: Sequence[object]) -> list[str | dict[str, Any]]:
    """Each id once, in the order given: the id to look up (as check_generation_id returns it, so a
    quoted id and its bare form are one), or the invalid_id result of one that can't be an id."""
    seen: set[object] = set()
    wanted: list[str | dict[str, Any]] = []
    for raw in ids:
        entry: str | dict[str, Any]
        token: object
        try:
            entry = token = check_generation_id(raw)
        except InvalidGenerationId as error:
            entry = _error(raw, ErrorKind.INVALID_ID, str(error))
            token = (type(raw) is str, entry["id"])  # 42 and "42" are two ids; a list is not hashable
        if token not in seen:
            seen.add(token)
            wanted.append(entry)
    return wanted


def _shown(raw: object) -> str:
    return raw if isinstance(raw, str) else json.dumps(raw, default=repr)


def _error(raw: object, kind: ErrorKind, message: str, waited: float | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": _shown(raw), "error": {"kind": kind.value, "message": message}}
    if waited is not None:
        item["waited_seconds"] = round(waited, 3)
    return item


class _Batch:
    """The state one get_generations call shares between its ids: the slots, one wait window, a 401."""

    def __init__(
        self, api: RecordLookup, key: ApiKey | None, concurrency: int, wait_seconds: float, clock: Clock
    ) -> None:
        self.api = api
        self.key = key
        self.slots = anyio.CapacityLimiter(concurrency)  # lookups in flight; a poll's pause holds none
        self.wait_seconds = wait_seconds
        self.until = clock() + wait_seconds  # one window for every id, however many there are
        self.clock = clock
        self.rejected_key: LookupFailed | None = None  # a 401: every other id would meet it too

    async def one(self, generation_id: str, sleep: Sleep) -> dict[str, Any]:
        """The outcome for one id, polled within the batch's window while it is not found."""
        waiting = self.wait_seconds > 0
        schedule = PollSchedule(self.until, self.clock)
        first: float | None = None
        while True:
            async with self.slots:
                if self.rejected_key is not None:
                    return _error(generation_id, self.rejected_key.kind, self.rejected_key.message)
                polled = self.clock()
                first = polled if first is None else first
                try:
                    found = await self.api.lookup(generation_id, self.key)
                    break
                except LookupFailed as failure:
                    if failure.kind is ErrorKind.UNAUTHORIZED:
                        self.rejected_key = failure
                    pause = schedule.next_pause() if failure.kind is ErrorKind.NOT_FOUND else None
                    if pause is None:
                        note_wait(failure, polled - first, self.wait_seconds)
                        waited = failure.waited_seconds if waiting else None
                        return _error(generation_id, failure.kind, failure.message, waited)
            await sleep(pause)
        item: dict[str, Any] = {"id": generation_id, "generation": found.record}
        if waiting:
            item["waited_seconds"] = round(polled - first, 3)
        return item


async def lookup_many(
    api: RecordLookup,
    ids: Sequence[object],
    key: ApiKey | None,
    *,
    concurrency: int,
    wait_seconds: float = 0.0,
    progress: Progress | None = None,
    sleep: Sleep = anyio.sleep,
    clock: Clock = time.monotonic,
) -> dict[str, Any]:
    """Look every distinct id up, at most `concurrency` at a time; the BatchResult as a dict.

    With `wait_seconds`, ids not found are polled again until one window, shared by the whole
    batch, closes: the call takes its lookups' time plus `wait_seconds`, not that per wave of ids.
    """
    wanted = checked_distinct(ids)
    results: list[dict[str, Any] | None] = [None if isinstance(entry, str) else entry for entry in wanted]
    batch = _Batch(api, key, concurrency, wait_seconds, clock)
    done = sum(item is not None for item in results)

    async def look_up(index: int, generation_id: str) -> None:
        nonlocal done
        results[index] = await batch.one(generation_id, sleep)
        done += 1
        if progress is not None:
            await progress(done, len(wanted))

    async with anyio.create_task_group() as lookups:  # one task per id; the slots bound the concurrency
        for index, entry in enumerate(wanted):
            if isinstance(entry, str):
                lookups.start_soon(look_up, index, entry)
    return batch_result([item for item in results if item is not None])


def batch_result(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The BatchResult (as a dict) of these per-id outcomes: with their counts and usage totals."""
    records = (item["generation"] for item in results if "generation" in item)
    return {"results": results, "counts": _counts(results), "totals": usage_totals(records)}


def _counts(results: list[dict[str, Any]]) -> dict[str, int]:
    found = sum(1 for item in results if "generation" in item)
    not_found = sum(1 for item in results if "error" in item and item["error"]["kind"] == ErrorKind.NOT_FOUND)
    return {
        "ids": len(results),
        "found": found,
        "not_found": not_found,
        "failed": len(results) - found - not_found,
    }
