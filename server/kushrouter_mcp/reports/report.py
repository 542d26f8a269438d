"""A usage report from per-group sums (pure): rows in order, totals over every group, a compact table.

The ledger does the summing (in SQL, over any number of records); this shapes what it returns, so
every backend's report reads the same.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ..records.models import USAGE_FIELDS
from ..records.totals import COST_PLACES, UNKNOWN, usd
from .periods import Period, iso

EPOCH_DAY = date(1970, 1, 1)
# What each group's sums hold, in this order after the group keys.
SUM_FIELDS: tuple[str, ...] = ("generations", *USAGE_FIELDS, "estimated_cost_usd", "unpriced", "not_final")


def day_label(day_number: int) -> str:
    """The UTC day `day_number` days after 1970-01-01, as YYYY-MM-DD."""
    return (EPOCH_DAY + timedelta(days=int(day_number))).isoformat()


def day_number(epoch_seconds: float) -> int:
    return math.floor(epoch_seconds / 86400)


@dataclass(frozen=True, slots=True)
class GroupSums:
    """One group's key values (in group_by order; a day as its day number) and its sums."""

    keys: tuple[Any, ...]
    sums: tuple[Any, ...]  # SUM_FIELDS, in order; the cost sum is None when nothing was priced


def _row(group_by: Sequence[str], group: GroupSums) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, value in zip(group_by, group.keys, strict=True):
        row[name] = day_label(value) if name == "day" else (value or UNKNOWN)
    for name, value in zip(SUM_FIELDS, group.sums, strict=True):
        row[name] = int(value or 0) if name != "estimated_cost_usd" else _cost(value)
    return row


def _cost(value: float | None) -> float | None:
    return None if value is None else round(float(value), COST_PLACES)


def _order(row: dict[str, Any]) -> tuple[Any, ...]:
    """By day, then by cost (largest first, unpriced last), then by name for a stable order."""
    cost = row["estimated_cost_usd"]
    return (row.get("day", ""), cost is None, -(cost or 0.0), row.get("model", ""), row.get("endpoint", ""))


def totals_of(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The sums over rows: counts added, costs added exactly (null when none is priced)."""
    totals: dict[str, Any] = dict.fromkeys(("generations", *USAGE_FIELDS, "unpriced", "not_final"), 0)
    costs = []
    for row in rows:
        for name in totals:
            totals[name] += row[name]
        if row["estimated_cost_usd"] is not None:
            costs.append(row["estimated_cost_usd"])
    totals["estimated_cost_usd"] = round(math.fsum(costs), COST_PLACES) if costs else None
    return totals


def build_report(
    period: Period, group_by: Sequence[str], groups: Iterable[GroupSums], limit: int
) -> dict[str, Any]:
    """{"since", "until", "group_by", "rows", "more_rows", "totals"}: at most `limit` rows; the
    totals always cover every group."""
    rows = sorted((_row(group_by, group) for group in groups), key=_order)
    if not group_by and rows and not rows[0]["generations"]:
        rows = []  # an ungrouped sum over nothing: no row, not a row of zeros
    return {
        "since": iso(period.since),
        "until": iso(period.until),
        "group_by": list(group_by),
        "rows": rows[:limit],
        "more_rows": max(0, len(rows) - limit),
        "totals": totals_of(rows),
    }


# --- The table ---------------------------------------------------------------------------------------

_COLUMNS = (
    ("generations", "gens"),
    ("prompt_tokens", "input"),
    ("completion_tokens", "output"),
    ("cache_read_input_tokens", "cache read"),
    ("cache_creation_input_tokens", "cache write"),
)


def _cost_cell(row: dict[str, Any]) -> str:
    cost = row["estimated_cost_usd"]
    shown = "—" if cost is None else usd(cost)
    return f"{shown} ({row['unpriced']} unpriced)" if row["unpriced"] and cost is not None else shown


def report_table(report: dict[str, Any]) -> str:
    """The rows and the total as aligned text columns: group keys, counts, tokens, cost."""
    group_by: list[str] = report["group_by"] or [""]  # ungrouped: the total's line alone
    header = [*group_by, *(title for _, title in _COLUMNS), "est. cost"]
    rows = report["rows"] if report["group_by"] else []
    lines = [[*(str(row[name]) for name in group_by), *_numbers(row), _cost_cell(row)] for row in rows]
    total = report["totals"]
    lines.append(["total", *[""] * (len(group_by) - 1), *_numbers(total), _cost_cell(total)])
    return aligned([header, *lines], len(group_by))


def aligned(lines: Sequence[Sequence[str]], text_columns: int) -> str:
    """Cells in columns two spaces apart: the first `text_columns` left-aligned, the rest right."""
    widths = [max(len(cells[i]) for cells in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i < text_columns else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()
        for cells in lines
    )


def _numbers(row: dict[str, Any]) -> list[str]:
    return [f"{row[name]:,}" for name, _ in _COLUMNS]
