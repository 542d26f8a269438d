"""The tools as plain functions: arguments in, a CallToolResult out, testable with fakes.

Every failure a caller can cause or meet is an isError result with a message that
says what happened and what to do; nothing here raises into the SDK, except the resource
reader: resources answer failures with ResourceError, which the SDK turns into an MCP error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.types import CallToolResult, TextContent

from ..ledger.errors import LedgerError
from ..records.ids import InvalidGenerationId, check_generation_id
from ..reports.periods import (
    DEFAULT_GROUP_BY,
    DEFAULT_LIMIT,
    InvalidReportArgument,
    parse_group_by,
    parse_limit,
    parse_period,
)
from ..reports.report import build_report
from ..settings.keys import ApiKey
from ..upstream.batch import MAX_BATCH_IDS, Progress, RecordLookup, lookup_many
from ..upstream.client import Lookup
from ..upstream.failures import ErrorKind, LookupFailed, no_key
from .contracts import WAIT_SECONDS_MAX
from .costs import Costs, priced_extraction
from .summaries import (
    no_key_for_report,
    summarize_batch,
    summarize_extraction,
    summarize_record,
    summarize_report,
)

if TYPE_CHECKING:
    from ..ledger import Ledger


def error_result(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def _result(summary: str, structured: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=summary)], structured_content=structured)


class InvalidArgument(ValueError):
    """An argument the tool can't use; the message says which and why."""


def check_wait_seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidArgument(f"wait_seconds must be a number of seconds from 0 to {WAIT_SECONDS_MAX:g}.")
    if not 0 <= value <= WAIT_SECONDS_MAX:
        raise InvalidArgument(
            f"wait_seconds is {value:g}; use 0 to {WAIT_SECONDS_MAX:g} seconds (a record normally appears "
            "within a few seconds of the request ending)."
        )
    return float(value)


def check_ids(value: object) -> list[object]:
    if not isinstance(value, list):
        raise InvalidArgument('ids must be a list of generation ids, like ["chatcmpl-…", "msg_…"].')
    if not 1 <= len(value) <= MAX_BATCH_IDS:
        raise InvalidArgument(
            f"ids holds {len(value)} ids; pass 1 to {MAX_BATCH_IDS} per call (split a longer list)."
        )
    return value


async def get_generation(
    api: RecordLookup, raw_id: object, key: ApiKey | None, wait_seconds: object = 0
) -> CallToolResult:
    try:
        generation_id = check_generation_id(raw_id)
        found = await api.lookup(generation_id, key, check_wait_seconds(wait_seconds))
    except (InvalidGenerationId, InvalidArgument, LookupFailed) as error:  # each str() is its message
        return error_result(str(error))
    return _result(_lookup_note(found) + summarize_record(found.record), found.record)


def _lookup_note(found: Lookup) -> str:
    if found.cached:
        return "From this server's cache (completed records don't change).\n"
    if found.waited_seconds:
        return f"Waited {found.waited_seconds:.1f} s for the record to appear.\n"
    return ""


async def get_generations(
    api: RecordLookup,
    raw_ids: object,
    key: ApiKey | None,
    wait_seconds: object,
    concurrency: int,
    progress: Progress | None = None,
) -> CallToolResult:
    try:
        ids = check_ids(raw_ids)
        wait = check_wait_seconds(wait_seconds)
    except InvalidArgument as error:
        return error_result(str(error))
    if key is None:  # one answer instead of the same error for every id
        return error_result(no_key().message)
    batch = await lookup_many(api, ids, key, concurrency=concurrency, wait_seconds=wait, progress=progress)
    return _result(summarize_batch(batch, wait), batch)


async def read_generation(api: RecordLookup, raw_id: str, key: ApiKey | None) -> dict[str, Any]:
    """The record for the kushrouter://generations/{id} resource; ResourceError says why not."""
    try:
        return (await api.lookup(check_generation_id(raw_id), key)).record
    except InvalidGenerationId as error:
        raise ResourceNotFoundError(str(error)) from None
    except LookupFailed as failure:
        missing = failure.kind is ErrorKind.NOT_FOUND
        raise (ResourceNotFoundError if missing else ResourceError)(failure.message) from None


def extract_generation_id(
    payload: str | dict[str, Any] | list[Any], max_chars: int, costs: Costs | None = None
) -> CallToolResult:
    # Imported on first use: its patterns compile at import, and start-up should not pay for that.
    from ..extraction import NoGenerationIdFound, PayloadTooLarge, extract_generations

    try:
        found = extract_generations(payload, max_chars=max_chars)
    except (NoGenerationIdFound, PayloadTooLarge) as error:
        return error_result(str(error))
    structured = priced_extraction(found.model_dump(mode="json"), costs)
    estimates = [generation.get("estimated_cost") for generation in structured["generations"]]
    return _result(summarize_extraction(found, estimates), structured)


async def usage_report(
    ledger: Ledger | None,
    key: ApiKey | None,
    since: object = None,
    until: object = None,
    group_by: object = DEFAULT_GROUP_BY,
    limit: object = DEFAULT_LIMIT,
) -> CallToolResult:
    """The calling key's usage from the ledger; the reading runs in a worker thread."""
    try:
        period = parse_period(since, until, datetime.now(UTC))
        groups = parse_group_by(group_by)
        rows = parse_limit(limit)
    except InvalidReportArgument as error:
        return error_result(str(error))
    if ledger is None:
        report = build_report(period, groups, [], rows)
        return _result(summarize_report(report, None), {**report, "ledger": "off"})
    if key is None:
        return error_result(no_key_for_report())
    try:
        report, state = await anyio.to_thread.run_sync(ledger.report, key, period, groups, rows)
    except LedgerError as error:
        return error_result(
            f"The usage report failed: {error}. Fix that, or point KUSHROUTER_MCP_LEDGER at "
            f"{ledger.backend.elsewhere}; lookups work meanwhile."
        )
    return _result(summarize_report(report, state), {**report, "ledger": "on"})
