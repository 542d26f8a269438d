"""The user's prices file as rates: exact model ids first, then the most specific `*` glob (pure)."""

from __future__ import annotations

import re
from decimal import Decimal

from ..settings.prices_file import PriceEntry, PricesFile
from .rates import Rate, Rates


def _rate(value: Decimal | None) -> Rate | None:
    return None if value is None else Rate(value)


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.lower().split("*")))


class PriceOverrides:
    """Which entry of the prices file prices a model, remembered per model name."""

    def __init__(self, prices: PricesFile) -> None:
        self.source = f"prices file {prices.name}" + (f" ({prices.label})" if prices.label else "")
        self._exact = {entry.pattern.lower(): entry for entry in prices.entries if not entry.is_glob}
        globs = [entry for entry in prices.entries if entry.is_glob]
        # The most specific glob wins (most literal characters); the file's order breaks ties.
        globs.sort(key=lambda entry: -len(entry.pattern.replace("*", "")))
        self._globs = [(_glob(entry.pattern), entry) for entry in globs]
        self._matched: dict[str, Rates | None] = {}

    def rates_for(self, model: str) -> Rates | None:
        """The file's rates for `model`, or None when no entry matches it."""
        if model not in self._matched:
            entry = self._entry(model.lower())
            self._matched[model] = None if entry is None else self._rates(entry)
        return self._matched[model]

    def _entry(self, model: str) -> PriceEntry | None:
        if model in self._exact:
            return self._exact[model]
        return next((entry for pattern, entry in self._globs if pattern.fullmatch(model)), None)

    def _rates(self, entry: PriceEntry) -> Rates:
        return Rates(
            input=Rate(entry.input),
            output=Rate(entry.output),
            cache_read=_rate(entry.cache_read),
            cache_write=_rate(entry.cache_write),
            model_priced=entry.pattern,
            provider=entry.provider,
            source=self.source,
        )
