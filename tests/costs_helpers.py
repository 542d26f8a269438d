"""Expected cost estimates, computed in the tests from per-token prices: never read from the server.

The prices come from genai-prices' bundled snapshot (or numbers a test wrote into a prices file);
the token split follows the endpoint's semantics as the README states them:
openai.* — prompt_tokens already holds the cache reads and writes; anthropic.messages — it holds
neither, and they come on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import genai_prices
from genai_prices import data_snapshot
from genai_prices.types import TieredPrices

PARTS = ("input", "cache_read", "cache_write", "output")
ESTIMATE_KEYS = {"currency", "total", *PARTS, "model_priced", "provider", "source", "rates_per_mtok", "note"}
BUNDLED = f"genai-prices {genai_prices.__version__} bundled data"
PER_MILLION = Decimal(1_000_000)
CLOSE = 1e-12  # the server rounds each amount to a trillionth of a dollar


@dataclass(frozen=True)
class Prices:
    """USD per million tokens for one model, and what the estimate should say about them."""

    input: Decimal
    output: Decimal
    cache_read: Decimal | None
    cache_write: Decimal | None
    model_priced: str
    provider: str | None
    source: str

    def rate(self, part: str) -> Decimal:
        """A part's rate; a missing cache rate is the input rate."""
        value: Decimal | None = getattr(self, part)
        return self.input if value is None else value


def rate_at(price: Decimal | TieredPrices | None, whole_input: int) -> Decimal | None:
    """A price per million tokens for a request of `whole_input` input tokens (a tier's cliff)."""
    if not isinstance(price, TieredPrices):
        return price
    for tier in sorted(price.tiers, key=lambda tier: tier.start, reverse=True):
        if whole_input > tier.start:
            return tier.price
    return price.base


def list_prices(model: str, whole_input: int, created_at: float | None = None) -> Prices:
    """The snapshot's prices for `model` in force at `created_at` (now if None)."""
    provider, info = data_snapshot.get_snapshot().find_provider_model(model, None, None, None)
    when = datetime.fromtimestamp(created_at, UTC) if created_at else datetime.now(UTC)
    price = info.get_prices(when)
    input_rate, output_rate = rate_at(price.input_mtok, whole_input), rate_at(price.output_mtok, whole_input)
    assert input_rate is not None and output_rate is not None, model
    return Prices(
        input=input_rate,
        output=output_rate,
        cache_read=rate_at(price.cache_read_mtok, whole_input),
        cache_write=rate_at(price.cache_write_mtok, whole_input),
        model_priced=info.id,
        provider=provider.id,
        source=BUNDLED,
    )


def split(endpoint: str, usage: dict[str, Any]) -> dict[str, int]:
    """Token counts per part under the endpoint's semantics."""
    read = usage.get("cache_read_input_tokens") or 0
    write = usage.get("cache_creation_input_tokens") or 0
    prompt = usage["prompt_tokens"]
    if endpoint == "anthropic.messages":
        uncached = prompt  # Anthropic: prompt_tokens excludes cache reads and writes
    else:
        assert endpoint in ("openai.chat.completions", "openai.responses"), endpoint
        uncached = prompt - read - write  # OpenAI: prompt_tokens includes them
    return {"input": uncached, "cache_read": read, "cache_write": write, "output": usage["completion_tokens"]}


def whole_input(endpoint: str, usage: dict[str, Any]) -> int:
    counts = split(endpoint, usage)
    return counts["input"] + counts["cache_read"] + counts["cache_write"]


def amounts(endpoint: str, usage: dict[str, Any], prices: Prices) -> dict[str, Decimal]:
    """Each part at its own rate, and their sum: the numbers an estimate must carry."""
    counts = split(endpoint, usage)
    parts = {part: prices.rate(part) * counts[part] / PER_MILLION for part in PARTS}
    return {**parts, "total": sum(parts.values(), Decimal(0))}


def record_prices(record: dict[str, Any]) -> Prices:
    """The list prices a seed record is priced at (those in force when it was made)."""
    whole = whole_input(record["endpoint"], record["usage"])
    return list_prices(record["model"], whole, record["created_at"])


def assert_estimate(estimate: dict[str, Any], endpoint: str, usage: dict[str, Any], prices: Prices) -> None:
    """`estimate` prices `usage` at `prices` under `endpoint`'s semantics, and says where they came from."""
    assert set(estimate) == ESTIMATE_KEYS, sorted(estimate)
    expected = amounts(endpoint, usage, prices)
    for name, value in expected.items():
        assert abs(estimate[name] - float(value)) <= CLOSE, (name, estimate[name], value)
    assert estimate["currency"] == "USD"
    assert (estimate["model_priced"], estimate["provider"], estimate["source"]) == (
        prices.model_priced,
        prices.provider,
        prices.source,
    )
    assert estimate["rates_per_mtok"] == {part: float(prices.rate(part)) for part in PARTS}
    counts = split(endpoint, usage)
    if counts["cache_read"] or counts["cache_write"]:
        assert estimate["note"] and f"{endpoint} semantics" in estimate["note"], estimate["note"]


def assert_unpriced(estimate: dict[str, Any], model: str | None = None) -> None:
    """No amounts at all; given the model, a note that names it and the setting that would price it."""
    assert set(estimate) == ESTIMATE_KEYS, sorted(estimate)
    assert estimate["currency"] == "USD"
    assert estimate["total"] is None and all(estimate[part] is None for part in PARTS), estimate
    assert estimate["model_priced"] is None and estimate["rates_per_mtok"] is None
    if model is not None:
        assert model in estimate["note"] and "KUSHROUTER_MCP_PRICES" in estimate["note"], estimate["note"]


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content)
