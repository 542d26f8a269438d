"""List prices from genai-prices, loaded on first use (its import takes ~0.5 s: never at start-up).

The model name decides the provider (a Claude model on the OpenAI-compatible endpoint is still
Anthropic's), and the price in force when the request was made is the one used.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..records.times import request_time
from .rates import Rate, Rates

if TYPE_CHECKING:
    from genai_prices.data_snapshot import DataSnapshot


class NoListPrice(LookupError):
    """genai-prices has no token price for the model; the message says which model."""


_FIXED, _BY_DATE, _BY_TIME = "fixed", "by date", "by time of day"


def _how_prices_vary(info: Any) -> str:
    """Whether a model's price is one, changes on dates, or changes within a day."""
    from genai_prices.types import ModelPrice, StartDateConstraint

    if isinstance(info.prices, ModelPrice):
        return _FIXED
    dated = all(c.constraint is None or isinstance(c.constraint, StartDateConstraint) for c in info.prices)
    return _BY_DATE if dated else _BY_TIME


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
        self._forget()

    def _forget(self) -> None:
        """Drop every memo (new data came in)."""
        self._models: dict[str, tuple[Any, Any, str]] = {}  # name -> (provider, model, how prices vary)
        self._unknown: set[str] = set()
        self._by_day: dict[tuple[str, date | None], Rates] = {}  # (name, day or None) -> rates
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
            self._forget()

    def rates_for(self, model: str, created_at: object = None) -> Rates:
        """The rates for `model` in force when the request was made (`created_at`: epoch seconds or
        milliseconds, or ISO 8601; now if it is neither); NoListPrice if it has none.

        Remembered per model, and per day for a model whose prices changed on dates: a lookup
        costs a dict access. Only a price that varies by time of day is looked up every time.
        """
        known = self._models.get(model)
        if known is None:
            if model in self._unknown:
                raise NoListPrice(model)
            known = self._models[model] = self._model(model)
        provider, info, varies = known
        if varies == _BY_TIME:
            return self._at(provider, info, request_time(created_at))
        when = None if varies == _FIXED else request_time(created_at)
        key = (model, None if when is None else when.astimezone(UTC).date())  # as genai-prices: UTC days
        rates = self._by_day.get(key)
        if rates is None:
            rates = self._by_day[key] = self._at(provider, info, when)
        return rates

    def _model(self, model: str) -> tuple[Any, Any, str]:
        try:
            provider, info = self._find(model)
        except NoListPrice:
            self._unknown.add(model)
            raise
        return provider, info, _how_prices_vary(info)

    def _at(self, provider: Any, info: Any, when: datetime | None) -> Rates:
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
