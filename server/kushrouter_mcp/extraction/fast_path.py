"""The fast path: stream events that can't change what is found, recognised and skipped unparsed.

Most of a long capture is text deltas; a run of them is matched against a template of the last
inert event in one C-level regex match instead of being decoded one by one.
"""

from __future__ import annotations

import re

from .shapes import BODY_KEYS

# A key that can change what is found: ids, usage, models, statuses, the objects that carry
# them, a non-null finish reason, and every key under which a body may be kept as a string.
# Inside a JSON string a quote is always escaped, so these match keys (or whole string
# values), never generated text.
_SIGNIFICANT = re.compile(
    r'"(?:usage"(?![ \t]*:[ \t]*null)|(?:id|model|object|endpoint|status|response|message|'
    r"stop_reason|" + "|".join(sorted(BODY_KEYS)) + r')")|finish_reason"[ \t]*:[ \t]*"'
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
# How events are framed around their JSON: a server-sent event (an optional `event:` line, a
# `data:` line, a blank line) or a line of NDJSON.
_SSE_FRAMING = ("(?:event:[^\n]*\n)?data: ?", "\n\n")
LINE_FRAMING = ("", "(?:\r?\n|\\Z)")


class InertEvents:
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
