"""Finding generation ids, and the usage a payload reported, in whatever an agent holds. Pure: no I/O.

By mechanism: `extract` (the entry point), `framing` (walking values; SSE, NDJSON, fenced and
embedded documents in text), `shapes` (which objects are generations or events, their usage),
`fast_path` (inert stream events skipped unparsed), `tolerant_json` (documents cut short),
`results` (the pydantic answers).
"""

from .extract import LOOKED_FOR, NoGenerationIdFound, PayloadTooLarge, extract_generations
from .tolerant_json import parse_json_prefix

__all__ = ["LOOKED_FOR", "NoGenerationIdFound", "PayloadTooLarge", "extract_generations", "parse_json_prefix"]
