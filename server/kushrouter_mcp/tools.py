"""The two tools as plain functions: arguments in, a CallToolResult out, testable with fakes.

Every failure a caller can cause or meet is an isError result with a message that
says what happened and what to do; nothing here raises into the SDK.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from mcp.types import CallToolResult, TextContent

from .api import LookupFailed
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
after the request ends (on not-found, wait and retry). Records are kept for at least 7 days."""

EXTRACT_DESCRIPTION = """\
Find the KushRouter generation id in an LLM response you hold, to pass to get_generation. Accepts \
the raw payload as text or JSON: a response body, a captured SSE stream (with or without `event:` \
lines), NDJSON, a JSON array of stream events, JSON inside a Markdown fence or with prose around it, a \
truncated stream, or a bare id.
Returns `id`, `endpoint` (openai.chat.completions, openai.responses or anthropic.messages), `stream`, \
and the token `usage` the payload itself reported (in the record's field names) so it can be compared \
with what was billed. A payload holding several requests lists every id in `ids`, in order.
Tool-call ids, output-item ids and ids quoted inside generated text are ignored. Needs no key or network."""


class GenerationLookup(Protocol):
    async def get_generation(self, generation_id: str, key: ApiKey | None) -> dict[str, Any]: ...


def error_result(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def _result(summary: str, structured: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=summary)], structured_content=structured)


async def get_generation(api: GenerationLookup, raw_id: object, key: ApiKey | None) -> CallToolResult:
    try:
        generation_id = check_generation_id(raw_id)
    except InvalidGenerationId as error:
        return error_result(f"Invalid generation id: {error}")
    try:
        record = await api.get_generation(generation_id, key)
    except LookupFailed as failure:
        return error_result(failure.message)
    return _result(summarize_record(record), record)


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
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value) if value else None


def _stream_label(value: object) -> str | None:
    if isinstance(value, bool):
        return "streamed" if value else "not streamed"
    return None


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
    extra = sorted(set(record) - set(Generation.model_fields))
    if extra:
        lines.append(f"Also in the record: {', '.join(extra)}.")
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
