"""Framing: how a payload is read, whatever holds it.

A structured value is walked in document order; text is a bare id, one JSON document,
server-sent events (data lines joined per event), or free text scanned for every document in it
(NDJSON lines, Markdown code fences, prose, truncated tails). Strings where a body is kept (a log
record's `body`, a list of captured events) are read again as text. Every pass is linear in the
payload. Pure: no I/O.
"""

from __future__ import annotations

import json
import re

from .fast_path import LINE_FRAMING, InertEvents
from .shapes import BODY_KEYS, TEXT_KEYS, Collector, family_of, visit_object
from .tolerant_json import decode_at

# Strings inside a structured payload are re-read as text (a body kept as a string
# in a log record) at most this many levels deep.
_MAX_TEXT_DEPTH = 3
# Where a JSON document can start: a brace before a key (or its close), a bracket before a value.
_DOCUMENT_START = re.compile(r'\{(?=[ \t\r\n]*["}])|\[(?=[ \t\r\n]*[\[{"\]0-9tfn-])')
_SSE_FIELD_LINE = re.compile(r"^(?:data|event):", re.MULTILINE)
_BARE_ID = re.compile(r"[`'\"]?((?:chatcmpl-|resp_|msg_)[^\s`'\"]+)[`'\"]?")
_MAX_CONSIDERED = 1024  # documents looked at as run templates in one text


def walk(root: object, sink: Collector, text_depth: int) -> None:
    """Depth-first, in document order, without recursion (payloads may nest deeply).

    A string is read as a document of its own only where a captured body is kept
    (an item of a top-level list, or a field named like `body`); anywhere else a
    JSON-looking string is somebody's text, and ids quoted in text don't count.
    """
    stack: list[tuple[object, bool]] = [(root, False)]
    while stack:
        value, holds_body = stack.pop()
        if isinstance(value, dict):
            if visit_object(value, sink):
                continue
            children = [(child, key in BODY_KEYS) for key, child in value.items() if key not in TEXT_KEYS]
            stack.extend(reversed(children))
        elif isinstance(value, list):
            top = value is root
            stack.extend((child, top or holds_body) for child in reversed(value))
        elif isinstance(value, str) and holds_body and text_depth < _MAX_TEXT_DEPTH:
            read_text(value, sink, text_depth + 1)


def read_text(text: str, sink: Collector, text_depth: int) -> None:
    """Text as its shape asks: a bare id, one JSON document, server-sent events, or free text."""
    stripped = text.strip().lstrip("\ufeff")
    if not stripped:
        return
    bare = _BARE_ID.fullmatch(stripped)
    if bare is not None:
        generation_id = bare.group(1)
        family = family_of(generation_id)
        if family is not None:
            sink.add(generation_id, family, None)
        return
    if stripped[0] in '{["':
        try:
            document = json.loads(stripped)
        except (ValueError, RecursionError):
            pass
        else:
            walk(document, sink, text_depth)
            return
    # The substring tests first: the anchored pattern scans slowly, and most text has neither.
    if ("data:" in stripped or "event:" in stripped) and _SSE_FIELD_LINE.search(stripped):
        _read_sse(stripped, sink, text_depth)
    else:
        _scan_documents(stripped, sink, text_depth)


def _read_sse(text: str, sink: Collector, text_depth: int) -> None:
    """Server-sent events: data lines joined per event; other lines read as loose text."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    inert = InertEvents()
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


def _read_event(data: str, sink: Collector, text_depth: int, inert: InertEvents) -> None:
    if inert.take(data):
        return
    try:
        event = json.loads(data)
    except (ValueError, RecursionError):
        # "[DONE]", a truncated last event, or events captured without blank lines between them.
        _scan_documents(data, sink, text_depth)
        return
    inert.learn(data, event)
    walk(event, sink, text_depth)


def _scan_documents(text: str, sink: Collector, text_depth: int) -> None:
    """Every JSON object or array in free text (NDJSON, prose, code fences, truncated tails).

    Each stretch of text is parsed once: a document that fails part-way is taken as far as
    it is well formed, and the scan resumes where it failed. A document that can't change the
    answer becomes the template of a run of NDJSON lines like it, which are then skipped
    unparsed (see InertEvents).
    """
    inert = InertEvents(LINE_FRAMING)
    considered = 0  # documents looked at as templates: text without runs stops paying after a while
    position = 0
    while (start := _DOCUMENT_START.search(text, position)) is not None:
        begin = start.start()
        line_start = begin == 0 or text[begin - 1] == "\n"
        if line_start and inert.run is not None and (run := inert.run.match(text, begin)) is not None:
            position = run.end()
            continue
        document, position, whole = decode_at(text, begin)
        if whole and considered < _MAX_CONSIDERED and text.startswith(("\n", "\r\n"), position):
            # More lines follow, so a run of lines like this one may pay. It is walked all the same.
            considered += 1
            found = text[begin:position]
            inert.learn(found, document)
            inert.take(found)
        walk(document, sink, text_depth)
