"""Generation id validation: one rule set for the tools' schemas and their checks.

Pure: no I/O. A bad id is reported in plain words and never sent upstream.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints, TypeAdapter, ValidationError

GENERATION_ID_MAX_LENGTH = 256
# Published in the inputSchema (ECMA-262 syntax, which Python's re also reads).
GENERATION_ID_PATTERN = r"^[^\s\u0000-\u001f\u007f-\u009f]+$"
# Enforced here: the published rule plus invisible characters and lone surrogates,
# which only ever arrive through copy-paste accidents and cannot be URL-encoded.
_FORBIDDEN_CHAR = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff\ud800-\udfff]")
# Agents paste ids quoted ("chatcmpl-…", `msg_…`): one layer of a matching pair comes off. An id
# never starts or ends with one of these, so what is left over is a quote that doesn't match.
_QUOTE_PAIRS = {'"': '"', "'": "'", "`": "`", "\u201c": "\u201d", "\u2018": "\u2019"}
_QUOTES = frozenset(_QUOTE_PAIRS) | frozenset(_QUOTE_PAIRS.values())

GENERATION_ID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": GENERATION_ID_MAX_LENGTH,
    "pattern": GENERATION_ID_PATTERN,
}


class InvalidGenerationId(ValueError):
    """The id cannot be a generation id; the message says so and why, in plain words."""


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    if not name:
        name = "control character" if unicodedata.category(char).startswith("C") else "character"
    return f"U+{ord(char):04X} {name}".strip()


def unquote(value: str) -> str:
    """`value` without one layer of matching quotes or backticks around it, if it has one."""
    if len(value) >= 2 and _QUOTE_PAIRS.get(value[0]) == value[-1]:
        return value[1:-1]
    return value


def _has_stray_quote(value: str) -> bool:
    return bool(value) and (value[0] in _QUOTES or value[-1] in _QUOTES)


def _reject_forbidden_chars(value: str) -> str:
    found = _FORBIDDEN_CHAR.search(value)
    if found is not None:
        raise ValueError(
            f"The id contains whitespace or a control character ({_describe(found.group())} at position "
            f"{found.start()}). Generation ids have none: pass the id alone, without spaces, quotes or "
            "line breaks."
        )
    if _has_stray_quote(value):
        quote = value[0] if value[0] in _QUOTES else value[-1]
        raise ValueError(
            f"The id starts or ends with a quote ({quote}) that is not part of a matching pair around it; "
            "ids never hold quotes. Pass the id alone (one pair of matching quotes or backticks around it "
            "is removed, no more)."
        )
    return value


@cache
def _adapter() -> TypeAdapter[str]:
    # Built on first use, not at import: every IDE launch pays for import time.
    return TypeAdapter(
        Annotated[
            str,
            StringConstraints(min_length=1, max_length=GENERATION_ID_MAX_LENGTH),
            AfterValidator(_reject_forbidden_chars),
        ]
    )


def _plain_message(error: ValidationError, value: object) -> str:
    detail = error.errors(include_url=False, include_input=False)[0]
    kind = detail["type"]
    if kind == "string_too_short":
        return (
            "The id is empty. Pass a generation id such as chatcmpl-…, resp_… or msg_… "
            "(extract_generation_id finds it in a response body or a captured stream)."
        )
    if kind == "string_too_long" and isinstance(value, str):
        return (
            f"The id is {len(value)} characters long; generation ids are at most "
            f"{GENERATION_ID_MAX_LENGTH}. Pass only the id, not the whole response "
            "(extract_generation_id finds the id in a response)."
        )
    if kind == "value_error":
        return str(detail["ctx"]["error"])
    if isinstance(value, str):
        return "The id is not valid Unicode text (it holds a lone surrogate). Pass the id as plain text."
    return f"The id must be a string, not {type(value).__name__}."


def check_generation_id(value: object) -> str:
    """`value`, unquoted (see `unquote`), if it can be a generation id; else raise InvalidGenerationId."""
    if isinstance(value, str):
        value = unquote(value)
    try:
        return _adapter().validate_python(value, strict=True)
    except ValidationError as error:
        raise InvalidGenerationId(f"Invalid generation id: {_plain_message(error, value)}") from None


def is_valid_generation_id(value: str) -> bool:
    """Cheap check for extraction: the same rules, no exception machinery."""
    return (
        0 < len(value) <= GENERATION_ID_MAX_LENGTH
        and _FORBIDDEN_CHAR.search(value) is None
        and not _has_stray_quote(value)
    )
