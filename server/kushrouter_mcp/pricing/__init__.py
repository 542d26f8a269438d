"""Cost estimates: the record's usage priced at list prices (genai-prices) or the user's own (pure).

Light to import: genai-prices itself loads on the first estimate, never at start-up.
"""

from .pricer import ESTIMATE_KEY, FALLBACK_KEY, Pricer

__all__ = ["ESTIMATE_KEY", "FALLBACK_KEY", "Pricer"]
