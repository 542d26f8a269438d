"""Rates and the arithmetic of an estimate (pure): four parts, each tokens × its own rate.

A rate is USD per million tokens. A tiered rate (a provider's long-context price) applies one
rate to all tokens of the part once the whole input passes a threshold, as the providers bill
and as genai-prices computes it; the tests check our parts add up to its total for every model.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .semantics import BilledTokens

PER = Decimal(1_000_000)
PLACES = 12  # amounts are rounded to a trillionth of a dollar: exact for any real bill
PARTS = ("input", "cache_read", "cache_write", "output")


@dataclass(frozen=True)
class Rate:
    """USD per million tokens: `base`, or a tier's price once the whole input passes its start."""

    base: Decimal
    tiers: tuple[tuple[int, Decimal], ...] = ()  # (start, price), ascending

    def at(self, whole_input: int) -> Decimal:
        for start, price in reversed(self.tiers):
            if whole_input > start:
                return price
        return self.base


@dataclass(frozen=True)
class Rates:
    """One model's rates and where they came from. A missing cache rate means the input rate."""

    input: Rate
    output: Rate
    cache_read: Rate | None
    cache_write: Rate | None
    model_priced: str
    provider: str | None
    source: str
    one_hour_write_rate: bool = False  # the provider bills 1-hour cache writes at another rate
    request_fee_per_thousand: Decimal | None = None  # a per-request fee, which no token count shows


def amount(value: Decimal) -> float:
    return round(float(value), PLACES)


def priced(tokens: BilledTokens, rates: Rates) -> dict[str, Any]:
    """The estimated_cost of `tokens` at `rates`, as the record carries it."""
    whole = tokens.whole_input
    used = {
        "input": rates.input.at(whole),
        "cache_read": (rates.cache_read or rates.input).at(whole),
        "cache_write": (rates.cache_write or rates.input).at(whole),
        "output": rates.output.at(whole),
    }
    counts = {
        "input": tokens.uncached_input,
        "cache_read": tokens.cache_read,
        "cache_write": tokens.cache_write,
        "output": tokens.output,
    }
    parts = {name: used[name] * counts[name] / PER for name in PARTS}
    notes = [tokens.note, *_rate_notes(tokens, rates)]
    return {
        "currency": "USD",
        "total": amount(sum(parts.values(), Decimal(0))),
        **{name: amount(value) for name, value in parts.items()},
        "model_priced": rates.model_priced,
        "provider": rates.provider,
        "source": rates.source,
        "rates_per_mtok": {name: float(used[name]) for name in PARTS},
        "note": " ".join(note for note in notes if note) or None,
    }


def _rate_notes(tokens: BilledTokens, rates: Rates) -> list[str]:
    """What the reader of this estimate must know about the rates it used."""
    notes = []
    if tokens.cache_write and rates.one_hour_write_rate:
        notes.append("Cache writes priced at the 5-minute rate (the record doesn't say which were 1-hour).")
    if rates.request_fee_per_thousand is not None:
        notes.append(f"Not included: a fee of ${rates.request_fee_per_thousand} per 1,000 requests.")
    if tokens.cache_read and rates.cache_read is None:
        notes.append(f"No cache-read rate for {rates.model_priced}: cache reads priced at the input rate.")
    if tokens.cache_write and rates.cache_write is None:
        notes.append(f"No cache-write rate for {rates.model_priced}: cache writes priced at the input rate.")
    return notes


def unpriced(why: str, source: str | None, provider: str | None = None) -> dict[str, Any]:
    """An estimate with no amounts: `why` says what is missing and how to add it."""
    return {
        "currency": "USD",
        "total": None,
        **dict.fromkeys(PARTS),
        "model_priced": None,
        "provider": provider,
        "source": source,
        "rates_per_mtok": None,
        "note": why,
    }
