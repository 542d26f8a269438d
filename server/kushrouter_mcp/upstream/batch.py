"""Many lookups at once: bounded concurrency, one outcome per distinct id, usage totals.

One id's failure never fails the batch. The workers only store each outcome; counting and
summing happen once at the end, so nothing per id stands between one request and the next.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import anyio

from ..records.ids import InvalidGenerationId, check_generation_id
from ..records.models import USAGE_FIELDS
from ..settings.keys import ApiKey
from .client import Lookup
from .failures import ErrorKind, LookupFailed

MAX_BATCH_IDS = 500
UNKNOWN = "unknown"

Progress = Callable[[int, int], Awaitable[None]]


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
    """The state one get_generations call shares between its workers."""

    def __init__(self, api: RecordLookup, key: ApiKey | None, wait_seconds: float):
        self.api = api
        self.key = key
        self.wait_seconds = wait_seconds
        self.rejected_key: LookupFailed | None = None  # a 401: every other id would meet it too

    async def one(self, generation_id: str) -> dict[str, Any]:
        waiting = self.wait_seconds > 0
        if self.rejected_key is not None:
            return _error(generation_id, self.rejected_key.kind, self.rejected_key.message)
        try:
            found = await self.api.lookup(generation_id, self.key, self.wait_seconds)
        except LookupFailed as failure:
            if failure.kind is ErrorKind.UNAUTHORIZED:
                self.rejected_key = failure
            return _error(
                generation_id, failure.kind, failure.message, failure.waited_seconds if waiting else None
            )
        item: dict[str, Any] = {"id": generation_id, "generation": found.record}
        if waiting:
            item["waited_seconds"] = round(found.waited_seconds, 3)
        return item


async def lookup_many(
    api: RecordLookup,
    ids: Sequence[object],
    key: ApiKey | None,
    *,
    concurrency: int,
    wait_seconds: float = 0.0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Look every distinct id up, at most `concurrency` at a time; the BatchResult as a dict."""
    wanted = checked_distinct(ids)
    results: list[dict[str, Any] | None] = [None if isinstance(entry, str) else entry for entry in wanted]
    pending = [(index, entry) for index, entry in enumerate(wanted) if isinstance(entry, str)]
    batch = _Batch(api, key, wait_seconds)
    done = len(wanted) - len(pending)
    queue = iter(pending)  # shared by the workers: each id is taken exactly once

    async def worker() -> None:
        nonlocal done
        for index, generation_id in queue:
            results[index] = await batch.one(generation_id)
            done += 1
            if progress is not None:
                await progress(done, len(wanted))

    async with anyio.create_task_group() as workers:
        for _ in range(min(concurrency, len(pending))):
            workers.start_soon(worker)
    return batch_result([item for item in results if item is not None])


def batch_result(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The BatchResult (as a dict) of these per-id outcomes: with their counts and usage totals."""
    return {"results": results, "counts": _counts(results), "totals": _totals(results)}


def _counts(results: list[dict[str, Any]]) -> dict[str, int]:
    found = sum(1 for item in results if "generation" in item)
    not_found = sum(1 for item in results if "error" in item and item["error"]["kind"] == ErrorKind.NOT_FOUND)
    return {
        "ids": len(results),
        "found": found,
        "not_found": not_found,
        "failed": len(results) - found - not_found,
    }


def _zero() -> dict[str, int]:
    return dict.fromkeys(("generations", *USAGE_FIELDS), 0)


def _add(totals: dict[str, int], usage: dict[str, Any]) -> None:
    totals["generations"] += 1
    for name in USAGE_FIELDS:
        value = usage.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            totals[name] += value


def _totals(results: list[dict[str, Any]]) -> dict[str, Any]:
    overall = _zero()
    by_model: dict[str, dict[str, int]] = {}
    by_endpoint: dict[str, dict[str, int]] = {}
    for item in results:
        record = item.get("generation")
        if record is None:
            continue
        usage = record.get("usage") or {}
        _add(overall, usage)
        _add(by_model.setdefault(record.get("model") or UNKNOWN, _zero()), usage)
        _add(by_endpoint.setdefault(record.get("endpoint") or UNKNOWN, _zero()), usage)
    return {"overall": overall, "by_model": by_model, "by_endpoint": by_endpoint}
