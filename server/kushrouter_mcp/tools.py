"""The tools as plain functions: arguments in, a CallToolResult out, testable with fakes.

Every failure a caller can cause or meet is an isError result with a message that
says what happened and what to do; nothing here raises into the SDK, except the resource
reader: resources answer failures with ResourceError, which the SDK turns into an MCP error.
"""

from __future__ import annotations

import time
from typing import Any

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.types import CallToolResult, TextContent

from .api import Lookup, LookupFailed, no_key
from .batch import MAX_BATCH_IDS, Progress, RecordLookup, lookup_many
from .config import ApiKey
from .models import USAGE_FIELDS, ExtractedGeneration, ExtractionResult, Generation
from .validation import InvalidGenerationId, check_generation_id

GET_GENERATION_DESCRIPTION = """\
Look up KushRouter's record of one completed LLM request by its generation id: endpoint, model, \
whether it streamed, the token usage KushRouter billed (prompt, completion, total, cache read and \
cache write) and the finish reason.
The id is the request's own id from its response: Chat Completions `chatcmpl-…`, Responses `resp_…`, \
Anthropic Messages `msg_…` — call extract_generation_id first if you hold the raw body or stream.
Only the API key that made the request can read its record; a record can take a few seconds to appear \
after the request ends: pass wait_seconds (up to 60) to keep polling until it does. Records are kept \
for at least 7 days; completed records are cached, so asking again is free."""

GET_GENERATIONS_DESCRIPTION = f"""\
Look up many KushRouter generations in one call — e.g. every request of a session — and get the \
token usage KushRouter billed for them summed up: overall, by model and by endpoint.
Pass `ids` (1 to {MAX_BATCH_IDS}; duplicates are looked up once, order is kept). Each id gets its \
record, or an error with a kind (invalid_id, not_found, unauthorized, forbidden, rate_limited, \
upstream_error, timeout, ...) and a message; one id's failure never fails the call. `counts` says how \
many were found, not found and failed. Lookups run concurrently and back off together if KushRouter \
rate-limits the key. Right after the requests finished, pass wait_seconds (up to 60) so records that \
are not written yet are polled for."""

WAIT_SECONDS_MAX = 60.0
WAIT_SECONDS_SCHEMA: dict[str, Any] = {
    "type": "number",
    "minimum": 0,
    "maximum": WAIT_SECONDS_MAX,
    "default": 0,
}

EXTRACT_DESCRIPTION = """\
Find the KushRouter generation id in an LLM response you hold, to pass to get_generation. Accepts \
the raw payload as text or JSON: a response body, a captured SSE stream (with or without `event:` \
lines), NDJSON, a JSON array of stream events, JSON inside a Markdown fence or with prose around it, a \
truncated stream, or a bare id.
Returns `id`, `endpoint` (openai.chat.completions, openai.responses or anthropic.messages), `stream`, \
and the token `usage` the payload itself reported (in the record's field names) so it can be compared \
with what was billed. A payload holding several requests lists every id in `ids`, in order.
Tool-call ids, output-item ids and ids quoted inside generated text are ignored. Needs no key or network."""


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
        missing = failure.kind == "not_found"
        raise (ResourceNotFoundError if missing else ResourceError)(failure.message) from None


def extract_generation_id(payload: str | dict[str, Any] | list[Any], max_chars: int) -> CallToolResult:
    # Imported on first use: its patterns compile at import, and start-up should not pay for that.
    from .extraction import NoGenerationIdFound, PayloadTooLarge, extract_generations

    try:
        found = extract_generations(payload, max_chars=max_chars)
    except (NoGenerationIdFound, PayloadTooLarge) as error:
        return error_result(str(error))
    return _result(summarize_extraction(found), found.model_dump(mode="json"))


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "?"


def summarize_usage(usage: dict[str, Any] | None) -> str:
    if not usage or not any(usage.get(name) is not None for name in USAGE_FIELDS):
        return "no usage reported"
    text = (
        f"{_count(usage.get('prompt_tokens'))} prompt + {_count(usage.get('completion_tokens'))} completion "
        f"= {_count(usage.get('total_tokens'))} total tokens"
    )
    cache = [
        f"cache {label} {_count(usage[name])}"
        for name, label in (("cache_read_input_tokens", "read"), ("cache_creation_input_tokens", "write"))
        if usage.get(name) is not None
    ]
    return text + (f" ({', '.join(cache)})" if cache else "")


def _created(value: object) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e11:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))  # a third of datetime's cost
    return str(value) if value else None


def _stream_label(value: object) -> str | None:
    if isinstance(value, bool):
        return "streamed" if value else "not streamed"
    return None


_RECORD_FIELDS = frozenset(Generation.model_fields)  # made once: summarize_record runs on every lookup


def summarize_record(record: dict[str, Any]) -> str:
    details = [
        record.get("endpoint"),
        f"model {record['model']}" if record.get("model") else None,
        _stream_label(record.get("stream")),
        f"finish_reason {record['finish_reason']}" if record.get("finish_reason") else None,
        f"status {record['status']}" if record.get("status") else None,
        f"created {created}" if (created := _created(record.get("created_at"))) else None,
    ]
    lines = [
        f"Generation {record['id']}: {', '.join(str(d) for d in details if d)}.",
        f"Billed usage: {summarize_usage(record.get('usage'))}.",
    ]
    extra = sorted(record.keys() - _RECORD_FIELDS)
    if extra:
        lines.append(f"Also in the record: {', '.join(extra)}.")
    return "\n".join(lines)


_LISTED_PROBLEMS = 20


def summarize_batch(batch: dict[str, Any], wait_seconds: float) -> str:
    counts, overall = batch["counts"], batch["totals"]["overall"]
    lines = [
        f"Looked up {counts['ids']} distinct ids: {counts['found']} found, {counts['not_found']} not found, "
        f"{counts['failed']} failed.",
        f"Billed usage of the {overall['generations']} found: {summarize_usage(overall)}.",
    ]
    by_model = batch["totals"]["by_model"]
    if len(by_model) > 1:
        lines.extend(f"- {model}: {summarize_usage(usage)}" for model, usage in by_model.items())
    problems = [item for item in batch["results"] if "error" in item]
    for item in problems[:_LISTED_PROBLEMS]:
        lines.append(f"{item['id']}: {item['error']['kind']} — {item['error']['message']}")
    if len(problems) > _LISTED_PROBLEMS:
        lines.append(f"… and {len(problems) - _LISTED_PROBLEMS} more (see results).")
    if wait_seconds and counts["not_found"]:
        lines.append(f"Ids not found were polled for up to {wait_seconds:g} s each.")
    found = [item for item in batch["results"] if "generation" in item]
    waited = max((item.get("waited_seconds") or 0.0 for item in found), default=0.0)
    if waited:
        lines.append(f"Waited up to {waited:.1f} s for a record to appear.")
    return "\n".join(lines)


def _describe(found: ExtractedGeneration) -> str:
    kind = {True: "stream", False: "response body", None: "bare id"}[found.stream]
    model = f", model {found.model}" if found.model else ""
    usage = summarize_usage(found.usage.model_dump() if found.usage else None)
    return f"{found.id} ({found.endpoint} {kind}{model}; usage in the payload: {usage})"


def summarize_extraction(result: ExtractionResult) -> str:
    if len(result.generations) == 1:
        head = f"Found generation {_describe(result)}."
    else:
        listed = "\n".join(f"- {_describe(g)}" for g in result.generations)
        head = f"Found {len(result.generations)} generations, in order of appearance:\n{listed}"
    return f"{head}\nLook it up with get_generation to see what KushRouter billed."
