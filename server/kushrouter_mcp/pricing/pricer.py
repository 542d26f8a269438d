"""`(endpoint, model, usage) -> estimated_cost`: your prices file first, then list prices (pure).

The one object the MCP face holds. Nothing heavy happens until the first estimate: `load()` pays
genai-prices' import then (the face runs it in a worker thread, beside the lookup it prices).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from ..records.models import ESTIMATE_KEY, FALLBACK_ESTIMATE_KEY
from ..settings.prices_file import PricesFile
from .list_prices import ListPrices, NoListPrice
from .overrides import PriceOverrides
from .rates import Rates, priced, unpriced
from .semantics import Unpriceable, billed_tokens

HOW_TO_ADD = (
    "add it to a prices file (KUSHROUTER_MCP_PRICES; README, 'Cost'), e.g. "
    '[models."{model}"] input = 1.0 and output = 2.0 (USD per million tokens)'
)


class NoPrice(LookupError):
    """No rates for a model; the message is the estimate's note: what is missing and what to do."""


class Pricer:
    """Prices records and payload usage; one per server, shared by every call."""

    def __init__(
        self, prices_file: PricesFile | None = None, on_load: Callable[[ListPrices], None] | None = None
    ) -> None:
        self.overrides = PriceOverrides(prices_file) if prices_file else None
        self._list: ListPrices | None = None
        self.unavailable: str | None = None  # why list prices could not be loaded, if they couldn't
        self._loading = threading.Lock()
        self._on_load = on_load  # e.g. start fetching newer data: the face's business, not ours

    @property
    def loaded(self) -> bool:
        """Whether list prices were loaded, or tried and found unavailable: nothing is left to load."""
        return self._list is not None or self.unavailable is not None

    def load(self) -> ListPrices | None:
        """genai-prices, imported on the first call (thread-safe; later calls return at once).

        None when it can't be loaded (a broken install): estimates then say so, and one attempt is
        all it gets, so no lookup pays for a failing import again.
        """
        if not self.loaded:
            with self._loading:
                if not self.loaded:
                    try:
                        self._list = ListPrices()
                    except Exception as error:  # any failure: list prices are off, lookups go on
                        self.unavailable = (
                            f"genai-prices could not be loaded ({type(error).__name__}: {error})"
                        )
                        return None
                    if self._on_load is not None:
                        self._on_load(self._list)
        return self._list

    def estimate(
        self,
        endpoint: str | None,
        model: str | None,
        usage: Mapping[str, object] | None,
        created_at: object = None,
    ) -> dict[str, Any]:
        """The estimated_cost of one generation's usage; amounts are null when it can't be priced."""
        try:
            tokens = billed_tokens(endpoint, usage)
        except Unpriceable as why:
            return unpriced(f"Not priced: {why}.", None)
        if not model:
            return unpriced("Not priced: the record names no model.", None)
        try:
            rates = self.rates_for(model, created_at)
        except NoPrice as missing:
            return unpriced(str(missing), self._list.source if self._list else None)
        return priced(tokens, rates)

    def rates_for(self, model: str, created_at: object = None) -> Rates:
        """The rates for `model`; NoPrice says why there are none and how to add one."""
        if self.overrides is not None and (rates := self.overrides.rates_for(model)) is not None:
            return rates
        how = HOW_TO_ADD.format(model=model)
        list_prices = self.load()
        if list_prices is None:
            raise NoPrice(
                f"No list price for model {model!r}: {self.unavailable}; reinstall kushrouter-mcp, or {how}."
            )
        try:
            return list_prices.rates_for(model, created_at)
        except NoListPrice:
            where = f"{list_prices.source}" + (" or your prices file" if self.overrides else "")
            raise NoPrice(f"No price for model {model!r} in {where}; {how}.") from None

    def with_estimate(self, record: dict[str, Any]) -> dict[str, Any]:
        """A copy of the API's record with its estimate beside the API's fields (never inside usage)."""
        usage = record.get("usage")
        estimate = self.estimate(
            record.get("endpoint"),
            record.get("model") if isinstance(record.get("model"), str) else None,
            usage if isinstance(usage, Mapping) else None,
            record.get("created_at"),
        )
        key = FALLBACK_ESTIMATE_KEY if ESTIMATE_KEY in record else ESTIMATE_KEY
        return {**record, key: estimate}
