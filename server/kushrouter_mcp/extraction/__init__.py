"""Finding generation ids, and the usage a payload reported, in whatever an agent holds. Pure: no I/O."""

from .reader import LOOKED_FOR, NoGenerationIdFound, PayloadTooLarge, extract_generations, parse_json_prefix

__all__ = ["LOOKED_FOR", "NoGenerationIdFound", "PayloadTooLarge", "extract_generations", "parse_json_prefix"]
