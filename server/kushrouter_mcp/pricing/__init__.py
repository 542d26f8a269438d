"""Cost estimates: the record's usage priced at list prices (genai-prices) or the user's own (pure).

Light to import: genai-prices itself loads on the first estimate, never at start-up.
"""

from .pricer import Pricer

__all__ = ["Pricer"]
