"""List prices from genai-prices, loaded on first use (its import takes ~0.5 s: never at start-up).

The model name decides the provider (a Claude model on the OpenAI-compatible endpoint is still
Anthropic's), and the price in force when the request was made is the one used.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .rates import Rate, Rates

if TYPE_CHECKING:
    from genai_prices.data_snapshot import DataSnapshot


class NoListPrice(LookupError):
    """genai-prices has no token price for the model; the message says which model."""


def _rate(value: Any) -> Rate | None:
    """A genai-prices price (a Decimal or TieredPrices) as our Rate; None where it has none."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return Rate(value)
    return Rate(value.base, tuple((tier.start, tier.price) for tier in value.tiers))


class ListPrices:
    """genai-prices' data: the bundled snapshot, or newer data once a fetch has installed it."""

    def __init__(self) -> None:
        import genai_prices  # the heavy import: paid here, on first use
        from genai_prices import data_snapshot

        self._snapshots = data_snapshot
        self.version: str = genai_prices.__version__
        self.fetched_at: datetime | None = None
        self._lock = threading.Lock()
        self._rates: dict[int, tuple[object, Rates]] = {}  # id(price) -> (price kept alive, rates)

    @property
    def source(self) -> str:
        if self.fetched_at is None:
            return f"genai-prices {self.version} bundled data"
        return f"genai-prices {self.version}, data fetched {self.fetched_at:%Y-%m-%d %H:%M} UTC"

    def use_fetched(self, snapshot: DataSnapshot, fetched_at: datetime) -> None:
        """Price with newer data from now on (a fetch in the background calls this)."""
        with self._lock:
            self._snapshots.set_custom_snapshot(snapshot)
            self.fetched_at = fetched_at
            self._rates = {}

    def rates_for(self, model: str, when: datetime | None) -> Rates:
        """The rates for `model` in force at `when` (now if None); NoListPrice if it has none."""
        provider, info = self._find(model)
        price = info.get_prices(when or datetime.now(UTC))
        known = self._rates.get(id(price))
        if known is None:
            known = (price, self._convert(price, provider.id, info.id))
            self._rates[id(price)] = known
        return known[1]

    def _find(self, model: str) -> tuple[Any, Any]:
        snapshot = self._snapshots.get_snapshot()
        try:
            return snapshot.find_provider_model(model, None, None, None)
        except LookupError:
            if "/" not in model:
                raise NoListPrice(model) from None
        try:  # "anthropic/claude-…": genai-prices reads a provider prefix in its litellm mode
            return snapshot.find_provider_model(model, None, "litellm", None)
        except LookupError:
            raise NoListPrice(model) from None

    def _convert(self, price: Any, provider: str, model_id: str) -> Rates:
        input_rate, output_rate = _rate(price.input_mtok), _rate(price.output_mtok)
        if input_rate is None or output_rate is None:
            raise NoListPrice(model_id)
        return Rates(
            input=input_rate,
            output=output_rate,
            cache_read=_rate(price.cache_read_mtok),
            cache_write=_rate(price.cache_write_mtok),
            model_priced=model_id,
            provider=provider,
            source=self.source,
            one_hour_write_rate=price.cache_write_1h_mtok is not None,
            request_fee_per_thousand=price.requests_kcount,
        )
