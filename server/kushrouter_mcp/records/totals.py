"""Usage and cost summed over records (pure): overall, by model and by endpoint.

A record's estimated cost counts when it has a total; one without (unknown model, no usage,
estimates off) is counted in `unpriced`, so a partial sum never looks complete.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .models import USAGE_FIELDS, estimate_of

UNKNOWN = "unknown"
COST_PLACES = 12  # as the estimates themselves: a trillionth of a dollar


def token_count(usage: Mapping[str, Any], name: str) -> int:
    """A usage field as a count: a missing or non-integer value counts 0."""
    value = usage.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class Totals:
    """Running sums for one group of records."""

    __slots__ = ("costs", "counts", "unpriced")

    def __init__(self) -> None:
        self.counts = dict.fromkeys(("generations", *USAGE_FIELDS), 0)
        self.costs: list[float] = []
        self.unpriced = 0

    def add(self, record: dict[str, Any]) -> None:
        counts = self.counts
        counts["generations"] += 1
        usage = record.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        for name in USAGE_FIELDS:
            counts[name] += token_count(usage, name)
        cost = estimated_total(record)
        if cost is None:
            self.unpriced += 1
        else:
            self.costs.append(cost)

    def as_dict(self) -> dict[str, Any]:
        cost = round(math.fsum(self.costs), COST_PLACES) if self.costs else None
        return {**self.counts, "estimated_cost_usd": cost, "unpriced": self.unpriced}


def usd(amount: float) -> str:
    """A dollar amount to four significant digits, never in exponent form: $0.0001234, $12.35."""
    if amount == 0:
        return "$0"
    if amount >= 100:
        return f"${amount:,.2f}"
    places = max(2, 3 - math.floor(math.log10(abs(amount))))
    return f"${amount:.{places}f}"


def estimated_total(record: dict[str, Any]) -> float | None:
    """The record's estimated total in USD, or None when it has none."""
    estimate = estimate_of(record)
    total = None if estimate is None else estimate.get("total")
    return float(total) if isinstance(total, int | float) and not isinstance(total, bool) else None


def usage_totals(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """{"overall", "by_model", "by_endpoint"}: each group's token sums, cost sum and unpriced count."""
    overall = Totals()
    by_model: dict[str, Totals] = {}
    by_endpoint: dict[str, Totals] = {}
    for record in records:
        overall.add(record)
        by_model.setdefault(record.get("model") or UNKNOWN, Totals()).add(record)
        by_endpoint.setdefault(record.get("endpoint") or UNKNOWN, Totals()).add(record)
    return {
        "overall": overall.as_dict(),
        "by_model": {name: group.as_dict() for name, group in by_model.items()},
        "by_endpoint": {name: group.as_dict() for name, group in by_endpoint.items()},
    }
