"""The tolerant JSON reader: a document found in free text, taken as far as it is well formed.

A document cut short (a truncated capture, a log line clipped at a limit) still yields what it
holds; nothing cut is reported as data. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from typing import Any

_DECODER = json.JSONDecoder()
_FIRST_WINDOW = 512  # characters decode_at tries first; most documents in a log line fit
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


def decode_at(text: str, start: int) -> tuple[object, int, bool]:
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
