"""Recognising shapes: which JSON objects are a generation or a stream event, and what each says.

A Chat Completions response or chunk, a Responses object or `response.*` event, an Anthropic
message, `message_start` or `message_delta`, a KushRouter record read back in: each is told by
its `object`/`type` (or, where a proxy stripped both, its id's prefix), its usage renamed to the
record's fields, and gathered by the Collector in order of first appearance. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..records.ids import is_valid_generation_id
from ..records.models import USAGE_FIELDS, Endpoint
from .results import ExtractedGeneration, ExtractedUsage

CHAT: Endpoint = "openai.chat.completions"
RESPONSES: Endpoint = "openai.responses"
ANTHROPIC: Endpoint = "anthropic.messages"
_PREFIXES: tuple[tuple[str, Endpoint], ...] = (("chatcmpl-", CHAT), ("resp_", RESPONSES), ("msg_", ANTHROPIC))
_ENDPOINTS: frozenset[str] = frozenset((CHAT, RESPONSES, ANTHROPIC))

# Keys whose values are generated or user-written text (or tool arguments): an id
# quoted there is content, not a record, so the walk never looks inside.
TEXT_KEYS = frozenset(
    {
        "content", "text", "delta", "arguments", "partial_json", "input", "instructions", "prompt",
        "system", "thinking", "refusal", "summary", "tool_calls", "function_call", "messages",
    }
)  # fmt: skip
# Keys under which logs and HTTP captures keep a raw body as a string.
BODY_KEYS = frozenset(
    {"body", "response", "response_body", "responseBody", "raw", "raw_body", "raw_response", "payload",
     "stream", "sse", "data", "result", "events", "chunks", "lines"}
)  # fmt: skip
# Anthropic stream events other than message_start/message_delta: nothing to record.
_ANTHROPIC_EVENTS = frozenset(
    {"message_stop", "content_block_start", "content_block_delta", "content_block_stop", "ping", "error"}
)
_RESPONSES_ITEM_PARTS = frozenset({"output_text", "refusal", "input_text"})


@dataclass
class _Found:
    id: str
    endpoint: Endpoint
    stream: bool | None
    model: str | None = None
    finish_reason: str | None = None
    status: str | None = None
    usage: dict[str, int] = field(default_factory=dict)

    def to_model(self) -> ExtractedGeneration:
        return ExtractedGeneration(
            id=self.id,
            endpoint=self.endpoint,
            stream=self.stream,
            model=self.model,
            finish_reason=self.finish_reason,
            status=self.status,
            usage=_finish_usage(self.usage),
        )


def _finish_usage(usage: dict[str, int]) -> ExtractedUsage | None:
    if not usage:
        return None
    totals = dict(usage)
    if "total_tokens" not in totals and "prompt_tokens" in totals and "completion_tokens" in totals:
        totals["total_tokens"] = totals["prompt_tokens"] + totals["completion_tokens"]
    return ExtractedUsage(**totals)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapped_usage(usage: object, names: dict[str, str], cached_from: str | None) -> dict[str, int]:
    """Rename a payload's usage object to the record's field names, keeping only integers."""
    if not isinstance(usage, dict):
        return {}
    out: dict[str, int] = {}
    for name in USAGE_FIELDS:  # a payload already in record names passes as is
        if (number := _int(usage.get(name))) is not None:
            out[name] = number
    for source, target in names.items():
        if (number := _int(usage.get(source))) is not None:
            out[target] = number
    details = usage.get(cached_from) if cached_from else None
    if isinstance(details, dict) and (cached := _int(details.get("cached_tokens"))) is not None:
        out["cache_read_input_tokens"] = cached
    return out


def _chat_usage(usage: object) -> dict[str, int]:
    return _mapped_usage(usage, {}, "prompt_tokens_details")


# Responses and Anthropic Messages name usage the same way; the record uses Chat Completions' names.
_INPUT_OUTPUT = {"input_tokens": "prompt_tokens", "output_tokens": "completion_tokens"}


def _responses_usage(usage: object) -> dict[str, int]:
    return _mapped_usage(usage, _INPUT_OUTPUT, "input_tokens_details")


def _anthropic_usage(usage: object) -> dict[str, int]:
    return _mapped_usage(usage, _INPUT_OUTPUT, None)


def _usable_id(value: object) -> str | None:
    """The id if it can be looked up; None for empty or placeholder ids like "" or "chatcmpl-"."""
    if not isinstance(value, str) or not is_valid_generation_id(value):
        return None
    suffix = value
    for prefix, _ in _PREFIXES:
        if value.startswith(prefix):
            suffix = value[len(prefix) :]
            break
    return value if any(char.isalnum() for char in suffix) else None


def family_of(generation_id: str) -> Endpoint | None:
    for prefix, endpoint in _PREFIXES:
        if generation_id.startswith(prefix):
            return endpoint
    return None


class Collector:
    """Generations in order of first appearance; later events of one id refine it."""

    def __init__(self) -> None:
        self.found: dict[str, _Found] = {}
        self._open_message: _Found | None = None  # the Anthropic stream message_delta belongs to

    def add(
        self, raw_id: object, endpoint: Endpoint, stream: bool | None, model: object = None
    ) -> _Found | None:
        generation_id = _usable_id(raw_id)
        if generation_id is None:
            return None
        entry = self.found.get(generation_id)
        if entry is None:
            entry = self.found[generation_id] = _Found(generation_id, endpoint, stream)
        if entry.model is None:
            entry.model = _str(model)
        return entry

    def chat(self, body: dict[str, Any], stream: bool | None) -> None:
        entry = self.add(body.get("id"), CHAT, stream, body.get("model"))
        if entry is None:
            return
        entry.usage.update(_chat_usage(body.get("usage")))
        choices = body.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if isinstance(choice, dict) and (reason := _str(choice.get("finish_reason"))):
                entry.finish_reason = reason
                break

    def responses(self, body: dict[str, Any], stream: bool) -> None:
        entry = self.add(body.get("id"), RESPONSES, stream, body.get("model"))
        if entry is not None:
            entry.usage.update(_responses_usage(body.get("usage")))
            entry.status = _str(body.get("status")) or entry.status

    def anthropic(self, body: dict[str, Any], stream: bool) -> None:
        entry = self.add(body.get("id"), ANTHROPIC, stream, body.get("model"))
        if entry is not None:
            entry.usage.update(_anthropic_usage(body.get("usage")))
            entry.finish_reason = _str(body.get("stop_reason")) or entry.finish_reason
        if stream:
            self._open_message = entry

    def anthropic_delta(self, event: dict[str, Any]) -> None:
        # message_delta carries cumulative usage and the stop reason, but no id.
        entry = self._open_message
        if entry is None:
            return
        entry.usage.update(_anthropic_usage(event.get("usage")))
        delta = event.get("delta")
        if isinstance(delta, dict) and (reason := _str(delta.get("stop_reason"))):
            entry.finish_reason = reason

    def record(self, body: dict[str, Any]) -> None:
        """A KushRouter generation record (get_generation's own output) read back in."""
        endpoint = body["endpoint"]
        stream = body.get("stream")
        entry = self.add(body.get("id"), endpoint, stream if isinstance(stream, bool) else None)
        if entry is not None:
            entry.model = entry.model or _str(body.get("model"))
            entry.usage.update(_mapped_usage(body.get("usage"), {}, None))
            entry.finish_reason = _str(body.get("finish_reason")) or entry.finish_reason
            entry.status = _str(body.get("status")) or entry.status


def _is_responses_item(body: dict[str, Any]) -> bool:
    """A Responses output item ({"type": "message", "id": "msg_…", "status": …}), not an Anthropic message."""
    if "status" in body:
        return True
    parts = body.get("content")
    return isinstance(parts, list) and any(
        isinstance(part, dict) and part.get("type") in _RESPONSES_ITEM_PARTS for part in parts
    )


def visit_object(body: dict[str, Any], sink: Collector) -> bool:
    """Record what `body` says if it is a generation or a stream event; True means don't look inside."""
    kind = body.get("object")
    event = body.get("type")
    if kind in ("chat.completion", "chat.completion.chunk"):
        sink.chat(body, stream=kind == "chat.completion.chunk")
        return True
    if kind == "response":
        sink.responses(body, stream=False)
        return True
    if isinstance(event, str):
        return _visit_typed(body, event, sink)
    if body.get("endpoint") in _ENDPOINTS and "id" in body:
        sink.record(body)
        return True
    return _visit_untyped(body, sink)


def _visit_typed(body: dict[str, Any], event: str, sink: Collector) -> bool:
    if event.startswith("response."):
        inner = body.get("response")
        if isinstance(inner, dict):
            sink.responses(inner, stream=True)
        return True  # output items and deltas live here: never look inside
    if event == "message_start":
        message = body.get("message")
        if isinstance(message, dict):
            sink.anthropic(message, stream=True)
        return True
    if event == "message_delta":
        sink.anthropic_delta(body)
        return True
    if event == "message":
        if not _is_responses_item(body):
            sink.anthropic(body, stream=False)
        return True
    # Other typed objects (output items, content blocks, log wrappers) hold no record id of
    # their own; their text keys are skipped by the walk, so it may look inside safely.
    return event in _ANTHROPIC_EVENTS


def _visit_untyped(body: dict[str, Any], sink: Collector) -> bool:
    """An object without object/type: recognised by the id's prefix, as some proxies strip both."""
    raw_id = body.get("id")
    if not isinstance(raw_id, str):
        return False
    family = family_of(raw_id)
    if family is None and isinstance(body.get("choices"), list):
        family = CHAT  # a completion body with its `object` stripped, whatever its id looks like
    if family == CHAT:
        choices = body.get("choices")
        streamed = (
            any(isinstance(c, dict) and "delta" in c for c in choices) if isinstance(choices, list) else None
        )
        sink.chat(body, stream=streamed)
    elif family == RESPONSES:
        sink.responses(body, stream=False)
    elif family == ANTHROPIC:
        sink.anthropic(body, stream=False)
    return family is not None
