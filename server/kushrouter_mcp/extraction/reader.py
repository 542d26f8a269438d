"""Find KushRouter generation ids in what an agent holds: a body, a captured stream, a log.

Pure: no I/O. The walk is structural: an id counts only where the API puts the
request's own id (a completion or chunk, a response object or `response.*` event,
an Anthropic message or `message_start`), so tool-call ids, output-item ids and
ids quoted in generated text never count. Every pass is linear in the payload.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..records.ids import is_valid_generation_id
from ..records.models import USAGE_FIELDS, Endpoint
from .results import ExtractedGeneration, ExtractedUsage, ExtractionResult

DEFAULT_MAX_PAYLOAD_CHARS = 16 * 1024 * 1024

CHAT: Endpoint = "openai.chat.completions"
RESPONSES: Endpoint = "openai.responses"
ANTHROPIC: Endpoint = "anthropic.messages"
_PREFIXES: tuple[tuple[str, Endpoint], ...] = (("chatcmpl-", CHAT), ("resp_", RESPONSES), ("msg_", ANTHROPIC))
_ENDPOINTS: frozenset[str] = frozenset((CHAT, RESPONSES, ANTHROPIC))

# Keys whose values are generated or user-written text (or tool arguments): an id
# quoted there is content, not a record, so the walk never looks inside.
_TEXT_KEYS = frozenset(
    {
        "content", "text", "delta", "arguments", "partial_json", "input", "instructions", "prompt",
        "system", "thinking", "refusal", "summary", "tool_calls", "function_call", "messages",
    }
)  # fmt: skip
# Keys under which logs and HTTP captures keep a raw body as a string.
_BODY_KEYS = frozenset(
    {"body", "response", "response_body", "responseBody", "raw", "raw_body", "raw_response", "payload",
     "stream", "sse", "data", "result", "events", "chunks", "lines"}
)  # fmt: skip
# Anthropic stream events other than message_start/message_delta: nothing to record.
_ANTHROPIC_EVENTS = frozenset(
    {"message_stop", "content_block_start", "content_block_delta", "content_block_stop", "ping", "error"}
)
_RESPONSES_ITEM_PARTS = frozenset({"output_text", "refusal", "input_text"})
# Strings inside a structured payload are re-read as text (a body kept as a string
# in a log record) at most this many levels deep.
_MAX_TEXT_DEPTH = 3

_DECODER = json.JSONDecoder()
# Where a JSON document can start: a brace before a key (or its close), a bracket before a value.
_DOCUMENT_START = re.compile(r'\{(?=[ \t\r\n]*["}])|\[(?=[ \t\r\n]*[\[{"\]0-9tfn-])')
_FIRST_WINDOW = 512
_SSE_FIELD_LINE = re.compile(r"^(?:data|event):", re.MULTILINE)
_BARE_ID = re.compile(r"[`'\"]?((?:chatcmpl-|resp_|msg_)[^\s`'\"]+)[`'\"]?")
_TOKEN = re.compile(
    r"""[ \t\r\n]*(?:
        ([{}\[\],:])
      | "((?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*)"
      | (-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
      | (true|false|null)
    )""",
    re.VERBOSE,
)
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}

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


def _family_of(generation_id: str) -> Endpoint | None:
    for prefix, endpoint in _PREFIXES:
        if generation_id.startswith(prefix):
            return endpoint
    return None


class _Collector:
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


def _visit_object(body: dict[str, Any], sink: _Collector) -> bool:
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


def _visit_typed(body: dict[str, Any], event: str, sink: _Collector) -> bool:
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


def _visit_untyped(body: dict[str, Any], sink: _Collector) -> bool:
    """An object without object/type: recognised by the id's prefix, as some proxies strip both."""
    raw_id = body.get("id")
    if not isinstance(raw_id, str):
        return False
    family = _family_of(raw_id)
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


def _walk(root: object, sink: _Collector, text_depth: int) -> None:
    """Depth-first, in document order, without recursion (payloads may nest deeply).

    A string is read as a document of its own only where a captured body is kept
    (an item of a top-level list, or a field named like `body`); anywhere else a
    JSON-looking string is somebody's text, and ids quoted in text don't count.
    """
    stack: list[tuple[object, bool]] = [(root, False)]
    while stack:
        value, holds_body = stack.pop()
        if isinstance(value, dict):
            if _visit_object(value, sink):
                continue
            children = [(child, key in _BODY_KEYS) for key, child in value.items() if key not in _TEXT_KEYS]
            stack.extend(reversed(children))
        elif isinstance(value, list):
            top = value is root
            stack.extend((child, top or holds_body) for child in reversed(value))
        elif isinstance(value, str) and holds_body and text_depth < _MAX_TEXT_DEPTH:
            _read_text(value, sink, text_depth + 1)


def _read_text(text: str, sink: _Collector, text_depth: int) -> None:
    stripped = text.strip().lstrip("\ufeff")
    if not stripped:
        return
    bare = _BARE_ID.fullmatch(stripped)
    if bare is not None:
        generation_id = bare.group(1)
        family = _family_of(generation_id)
        if family is not None:
            sink.add(generation_id, family, None)
        return
    if stripped[0] in '{["':
        try:
            document = json.loads(stripped)
        except (ValueError, RecursionError):
            pass
        else:
            _walk(document, sink, text_depth)
            return
    # The substring tests first: the anchored pattern scans slowly, and most text has neither.
    if ("data:" in stripped or "event:" in stripped) and _SSE_FIELD_LINE.search(stripped):
        _read_sse(stripped, sink, text_depth)
    else:
        _scan_documents(stripped, sink, text_depth)


def _read_sse(text: str, sink: _Collector, text_depth: int) -> None:
    """Server-sent events: data lines joined per event; other lines read as loose text."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    inert = _InertEvents()
    data: list[str] = []
    position, end = 0, len(text)
    while position < end:
        if not data and inert.run is not None and (run := inert.run.match(text, position)):
            position = run.end()  # a run of text-delta chunks, skipped in one C-level match
            continue
        newline = text.find("\n", position)
        line = text[position : end if newline < 0 else newline]
        position = end if newline < 0 else newline + 1
        if line.startswith("data:"):
            data.append(line[6:] if line.startswith("data: ") else line[5:])
            continue
        if data:
            _read_event(data[0] if len(data) == 1 else "\n".join(data), sink, text_depth, inert)
            data = []
        if line and not line.startswith((":", "event:", "id:", "retry:")):
            _scan_documents(line, sink, text_depth)
    if data:
        _read_event("\n".join(data), sink, text_depth, inert)


# A key that can change what is found: ids, usage, models, statuses, the objects that carry
# them, a non-null finish reason, and every key under which a body may be kept as a string.
# Inside a JSON string a quote is always escaped, so these match keys (or whole string
# values), never generated text.
_SIGNIFICANT = re.compile(
    r'"(?:usage"(?![ \t]*:[ \t]*null)|(?:id|model|object|endpoint|status|response|message|'
    r"stop_reason|" + "|".join(sorted(_BODY_KEYS)) + r')")|finish_reason"[ \t]*:[ \t]*"'
)
_CHUNK_START = re.compile(r'\{[ \t]*"id"[ \t]*:[ \t]*"')  # a chat chunk, compact or spaced
# Where an event's generated text starts: a chat delta's content, an Anthropic text_delta's
# text, a Responses output_text.delta's delta.
_TEXT_VALUE = re.compile(r'"(?:content|text|delta)"[ \t]*:[ \t]*"')
# The inside of a JSON string on one line: no bare quote, backslash or newline.
_STRING_BODY = r'[^"\\\n]*(?:\\[^\n][^"\\\n]*)*'
_STRING_TAIL = re.compile(_STRING_BODY + '"')
_DIGITS = re.compile(r"[0-9]+")
# Each template costs a regex compile; a stream whose events never repeat stops paying after these.
_MAX_TEMPLATES = 32
_RUN_CAP = 256
_MAX_CONSIDERED = 1024
# How events are framed around their JSON: a server-sent event (an optional `event:` line, a
# `data:` line, a blank line) or a line of NDJSON.
_SSE_FRAMING = ("(?:event:[^\n]*\n)?data: ?", "\n\n")
_LINE_FRAMING = ("", "(?:\r?\n|\\Z)")


class _InertEvents:
    """Recognises, without parsing, stream events that cannot change what was found.

    Most of a long capture is text deltas, and json.loads of each one costs several times
    more than everything else. Skipped: an object event with no significant key at all (an
    Anthropic content_block_delta, a Responses output_text.delta), and a chat chunk whose
    text up to "choices" repeats the last parsed chunk's (same id, object, model) and whose
    rest holds no significant key. Each event it takes becomes the template of `run`, which
    matches a whole series of events like it but for their text (and, for events with no
    significant key at all, their numbers) in one C-level match. Anything else is parsed as
    before. (A key spelled with \\u escapes would slip past; no JSON encoder writes ASCII keys so.)
    """

    def __init__(self, framing: tuple[str, str] = _SSE_FRAMING) -> None:
        self._framing = framing
        self._chunk_head: str | None = None
        self._templates_left = _MAX_TEMPLATES
        self.run: re.Pattern[str] | None = None

    def take(self, data: str) -> bool:
        """True if the event `data` can't change what was found; it then becomes `run`'s template."""
        if not data.startswith("{"):
            return False
        head = _chunk_head(data)
        if head is None:
            if _SIGNIFICANT.search(data) is not None:
                return False
            self._template(data, any_numbers=True)
            return True
        if head != self._chunk_head or _SIGNIFICANT.search(data, len(head)) is not None:
            return False
        # Only the text may differ: the head holds the id, and another id is another generation.
        self._template(data, any_numbers=False)
        return True

    def learn(self, data: str, event: object) -> None:
        """A parsed event: a chat chunk's head is what later chunks are compared with."""
        if isinstance(event, dict) and event.get("object") == "chat.completion.chunk":
            self._chunk_head = _chunk_head(data)

    def _template(self, event: str, any_numbers: bool) -> None:
        if self._templates_left > 0:  # reached only when the current run did not match this event
            self._templates_left -= 1
            self.run = _run_like(event, any_numbers, self._framing) or self.run


def _chunk_head(data: str) -> str | None:
    """A chat chunk's text up to "choices" (its id, object, created, model), or None."""
    cut = data.find('"choices"') if _CHUNK_START.match(data) else -1
    return data[:cut] if cut > 0 else None


def _run_like(event: str, any_numbers: bool, framing: tuple[str, str]) -> re.Pattern[str] | None:
    """Consecutive events, framed as given, like the inert `event`."""
    text = _TEXT_VALUE.search(event)
    closing = _STRING_TAIL.match(event, text.end()) if text else None
    if text is None or closing is None:
        return None
    before, after = re.escape(event[: text.end()]), re.escape(event[closing.end() - 1 :])
    if any_numbers:
        before, after = _DIGITS.sub("[0-9]+", before), _DIGITS.sub("[0-9]+", after)
    # At most _RUN_CAP events per match: sre keeps state for every repeat, and one match over
    # tens of thousands of events grows faster than linearly.
    opening, closing_frame = framing
    return re.compile(f"(?:{opening}{before}{_STRING_BODY}{after}{closing_frame}){{1,{_RUN_CAP}}}")


def _read_event(data: str, sink: _Collector, text_depth: int, inert: _InertEvents) -> None:
    if inert.take(data):
        return
    try:
        event = json.loads(data)
    except (ValueError, RecursionError):
        # "[DONE]", a truncated last event, or events captured without blank lines between them.
        _scan_documents(data, sink, text_depth)
        return
    inert.learn(data, event)
    _walk(event, sink, text_depth)


def _scan_documents(text: str, sink: _Collector, text_depth: int) -> None:
    """Every JSON object or array in free text (NDJSON, prose, code fences, truncated tails).

    Each stretch of text is parsed once: a document that fails part-way is taken as far as
    it is well formed, and the scan resumes where it failed. A document that can't change the
    answer becomes the template of a run of NDJSON lines like it, which are then skipped
    unparsed (see _InertEvents).
    """
    inert = _InertEvents(_LINE_FRAMING)
    considered = 0  # documents looked at as templates: text without runs stops paying after a while
    position = 0
    while (start := _DOCUMENT_START.search(text, position)) is not None:
        begin = start.start()
        line_start = begin == 0 or text[begin - 1] == "\n"
        if line_start and inert.run is not None and (run := inert.run.match(text, begin)) is not None:
            position = run.end()
            continue
        document, position, whole = _decode_at(text, begin)
        if whole and considered < _MAX_CONSIDERED and text.startswith(("\n", "\r\n"), position):
            # More lines follow, so a run of lines like this one may pay. It is walked all the same.
            considered += 1
            found = text[begin:position]
            inert.learn(found, document)
            inert.take(found)
        _walk(document, sink, text_depth)


def _decode_at(text: str, start: int) -> tuple[object, int, bool]:
    """The JSON document at `start`, where it ends and whether it is whole, through a growing window.

    A failed decode costs time in proportion to the text before the failure (the error
    computes a line number), so decoding the whole remaining text at every candidate
    start would be quadratic on long text full of failed starts; the window keeps each
    attempt in proportion to the document itself.
    """
    window = _FIRST_WINDOW
    while True:
        chunk = text[start : start + window]
        try:
            document, used = _DECODER.raw_decode(chunk)
        except json.JSONDecodeError as error:
            cut_by_window = start + window < len(text) and (
                error.pos >= len(chunk) - 1 or error.msg.startswith("Unterminated string")
            )
            if cut_by_window:
                window *= 4
                continue
        except RecursionError:
            pass
        else:
            return document, start + used, True
        document, end = parse_json_prefix(text, start)
        return document, max(end, start + 1), False


def parse_json_prefix(text: str, position: int) -> tuple[object, int]:
    """Parse the well-formed prefix of the JSON value at `position`, closing what is open.

    Returns the value and where parsing stopped. A string cut short, a key without
    its value and a number or literal that runs into the end of the text (it may be
    cut too) are left out, so nothing truncated is ever reported as data.
    """
    root: object = None
    stack: list[dict[str, Any] | list[Any]] = []
    key: str | None = None
    expect = "value"  # value | key | colon | next
    length = len(text)
    while (token := _TOKEN.match(text, position)) is not None:
        punct, string, number, literal = token.groups()
        is_scalar = string is not None or ((number or literal) is not None and token.end() < length)
        if expect == "value" and (is_scalar or punct in ("{", "[")):
            if is_scalar:
                value: object = _scalar(string, number, literal)
                expect = "next"
            else:
                value = {} if punct == "{" else []
                expect = "key" if punct == "{" else "value"
            if not stack:
                root = value
            elif isinstance(stack[-1], dict):
                stack[-1][key or ""] = value
            else:
                stack[-1].append(value)
            if isinstance(value, dict | list):
                stack.append(value)
        elif expect == "key" and string is not None:
            key = _decode_string(string)
            expect = "colon"
        elif expect == "colon" and punct == ":":
            expect = "value"
        elif expect == "next" and punct == ",":
            expect = "key" if isinstance(stack[-1], dict) else "value"
        elif punct in ("}", "]") and _closes(punct, stack, expect):
            stack.pop()
            expect = "next"
        else:
            break
        position = token.end()
        if not stack and expect == "next":
            break
    return root, position


def _closes(punct: str, stack: list[dict[str, Any] | list[Any]], expect: str) -> bool:
    if not stack:
        return False
    if punct == "}":
        return isinstance(stack[-1], dict) and expect in ("key", "next")
    return isinstance(stack[-1], list) and expect in ("value", "next")


def _scalar(string: str | None, number: str | None, literal: str | None) -> object:
    if string is not None:
        return _decode_string(string)
    if number is not None:
        return json.loads(number)
    return _LITERALS[literal or "null"]


def _decode_string(body: str) -> str:
    return json.loads(f'"{body}"') if "\\" in body else body


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
    sink = _Collector()
    if isinstance(payload, str):
        _read_text(payload, sink, 0)
    else:
        _walk(payload, sink, 0)
    if not sink.found:
        raise NoGenerationIdFound(f"No generation id found in the payload. {LOOKED_FOR}")
    generations = [entry.to_model() for entry in sink.found.values()]
    first = generations[0]
    return ExtractionResult(**first.model_dump(), ids=[g.id for g in generations], generations=generations)
