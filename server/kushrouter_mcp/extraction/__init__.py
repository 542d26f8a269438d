"""Finding generation ids, and the usage a payload reported, in whatever an agent holds. Pure: no I/O.

By mechanism: `extract` (the entry point), `framing` (walking values; SSE, NDJSON, fenced and
embedded documents in text), `shapes` (which objects are generations or events, their usage),
`fast_path` (inert stream events skipped unparsed), `tolerant_json` (documents cut short),
`results` (the pydantic answers).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .extract import LOOKED_FOR, NoGenerationIdFound, PayloadTooLarge, extract_generations
    from .tolerant_json import parse_json_prefix

__all__ = ["LOOKED_FOR", "NoGenerationIdFound", "PayloadTooLarge", "extract_generations", "parse_json_prefix"]

# The face imports `results` (the output schema) at start-up; the readers compile their patterns on
# import, so they load on the first extraction, not with the package (every IDE launch pays for it).
_HOMES = dict.fromkeys(__all__, ".extract") | {"parse_json_prefix": ".tolerant_json"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
