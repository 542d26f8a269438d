"""Rates and the arithmetic of an estimate (pure): four parts, each tokens × its own rate.

A rate is USD per million tokens. A tiered rate (a provider's long-context price) applies one
rate to all tokens of the part once the whole input passes a threshold, as the providers bill
and as genai-prices computes it; the tests check our parts add up to its total for every model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .semantics import BilledTokens

PER = 1_000_000
PLACES = 12  # amounts are rounded to a trillionth of a dollar: exact for any real bill
PARTS = ("input", "cache_read", "cache_write", "output")


class Rate:
    """USD per million tokens: `base`, or a tier's price once the whole input passes its start.

    Prices arrive as Decimals (as genai-prices and the prices file state them) and are used as
    floats: a float holds any real price to 15 digits, and an amount is rounded to 12 places, so
    the estimate is the same and costs a third of the time (a batch prices 500 records).
    """

    __slots__ = ("base", "tiers")

    def __init__(self, base: Decimal | float, tiers: tuple[tuple[int, Decimal | float], ...] = ()) -> None:
        self.base = float(base)
        self.tiers = tuple((start, float(price)) for start, price in reversed(tiers))  # highest first

    def at(self, whole_input: int) -> float:
        for start, price in self.tiers:
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


def priced(tokens: BilledTokens, rates: Rates) -> dict[str, Any]:
    """The estimated_cost of `tokens` at `rates`, as the record carries it."""
    whole = tokens.whole_input
    input_rate = rates.input.at(whole)
    read_rate = input_rate if rates.cache_read is None else rates.cache_read.at(whole)
    write_rate = input_rate if rates.cache_write is None else rates.cache_write.at(whole)
    output_rate = rates.output.at(whole)
    uncached = input_rate * tokens.uncached_input / PER
    read = read_rate * tokens.cache_read / PER
    write = write_rate * tokens.cache_write / PER
    output = output_rate * tokens.output / PER
    notes = _rate_notes(tokens, rates)
    if tokens.note:
        notes.insert(0, tokens.note)
    return {
        "currency": "USD",
        "total": round(math.fsum((uncached, read, write, output)), PLACES),
        "input": round(uncached, PLACES),
        "cache_read": round(read, PLACES),
        "cache_write": round(write, PLACES),
        "output": round(output, PLACES),
        "model_priced": rates.model_priced,
        "provider": rates.provider,
        "source": rates.source,
        "rates_per_mtok": {
            "input": input_rate,
            "cache_read": read_rate,
            "cache_write": write_rate,
            "output": output_rate,
        },
        "note": " ".join(notes) if notes else None,
    }


def _rate_notes(tokens: BilledTokens, rates: Rates) -> list[str]:
    """What the reader of this estimate must know about the rates it used."""
    notes = []
    if tokens.cache_write and rates.one_hour_write_rate:
        notes.append("Cache writes at the 5-minute rate (the record doesn't tell 1-hour ones apart).")
    if rates.request_fee_per_thousand is not None:
        notes.append(f"Not included: a fee of ${rates.request_fee_per_thousand} per 1,000 requests.")
    if tokens.cache_read and rates.cache_read is None:
        notes.append(f"No cache-read rate for {rates.model_priced}: cache reads at the input rate.")
    if tokens.cache_write and rates.cache_write is None:
        notes.append(f"No cache-write rate for {rates.model_priced}: cache writes at the input rate.")
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
