"""Find KushRouter generation ids in what an agent holds: a body, a captured stream, a log.

The entry point: the size limit, the reading (see `framing`), the answer. Pure: no I/O. The walk
is structural: an id counts only where the API puts the request's own id (a completion or chunk,
a response object or `response.*` event, an Anthropic message or `message_start`), so tool-call
ids, output-item ids and ids quoted in generated text never count.
"""

from __future__ import annotations

import json
from typing import Any

from .framing import read_text, walk
from .results import ExtractionResult
from .shapes import Collector

DEFAULT_MAX_PAYLOAD_CHARS = 16 * 1024 * 1024

LOOKED_FOR = (
    "Looked for the request's own id: the top-level id of an OpenAI Chat Completions response or "
    "chat.completion.chunk (chatcmpl-…), of an OpenAI Responses object or the response.id of "
    "response.* events (resp_…), or of an Anthropic message or the message.id of message_start "
    "(msg_…), or a bare id of those forms. Tool-call ids (call_…, toolu_…), output-item ids and "
    "ids inside generated text are ignored on purpose. Pass the response body or the captured "
    "stream as received."
)


class NoGenerationIdFound(ValueError):
    """The payload holds no generation id."""


class PayloadTooLarge(ValueError):
    """The payload is over the configured size limit."""


def _json_size(payload: object, limit: int) -> int:
    """Characters of the payload's compact JSON form (C speed); estimated where it nests too deep."""
    try:
        return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False))
    except (RecursionError, ValueError, TypeError):
        return _approximate_size(payload, limit)


def _approximate_size(payload: object, limit: int) -> int:
    """Compact-JSON size estimated iteratively, and only up to `limit`."""
    size = 0
    stack = [payload]
    while stack and size <= limit:
        value = stack.pop()
        if isinstance(value, dict):
            size += 2 + sum(len(key) + 4 for key in value)
            stack.extend(value.values())
        elif isinstance(value, list):
            size += 2 + len(value)
            stack.extend(value)
        elif isinstance(value, str):
            size += len(value) + 2
        else:
            size += len(str(value))
    return size


def extract_generations(
    payload: str | dict[str, Any] | list[Any], *, max_chars: int = DEFAULT_MAX_PAYLOAD_CHARS
) -> ExtractionResult:
    """Every generation in `payload`, in order of appearance.

    Raises PayloadTooLarge over `max_chars`, NoGenerationIdFound when there is none.
    """
    size = len(payload) if isinstance(payload, str) else _json_size(payload, max_chars)
    if size > max_chars:
        raise PayloadTooLarge(
            f"The payload is over the {max_chars:,}-character limit (KUSHROUTER_MCP_MAX_PAYLOAD_CHARS). "
            "Pass only the response body or the part of the stream that holds the first event "
            "(the id is at the start) and the last events (usage is at the end)."
        )
    sink = Collector()
    if isinstance(payload, str):
        read_text(payload, sink, 0)
    else:
        walk(payload, sink, 0)
    if not sink.found:
        raise NoGenerationIdFound(f"No generation id found in the payload. {LOOKED_FOR}")
    generations = [entry.to_model() for entry in sink.found.values()]
    first = generations[0]
    return ExtractionResult(**first.model_dump(), ids=[g.id for g in generations], generations=generations)
