"""Reports and ledger records as people take them away: CSV, JSON, JSON Lines and text tables.

CSV is what a spreadsheet opens as it is: a header row, one value per cell, ISO 8601 times, dot
decimals, costs in fixed notation (never `1e-06`), an empty cell for a missing value. The writers
stream to a text file and return how many rows they wrote, so an export never holds a whole
ledger in memory (the tables do: their columns are as wide as their widest cell).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from ..records.models import USAGE_FIELDS, estimate_of
from ..records.times import request_time
from ..records.totals import COST_PLACES, usd
from ..reports.periods import iso
from ..reports.report import SUM_FIELDS, aligned
from .rows import KEY_GROUP, short_identity, text_or_none

ESTIMATE_PARTS = ("input", "cache_read", "cache_write", "output")
RECORD_COLUMNS: tuple[str, ...] = (
    "id",
    "created_at",
    "first_seen",
    "last_seen",
    "model",
    "endpoint",
    "stream",
    "finish_reason",
    "status",
    "final",
    *USAGE_FIELDS,
    "estimated_cost_usd",
    *(f"cost_{part}" for part in ESTIMATE_PARTS),
    "cost_source",
    "apiKeyId",
)
# A text cell a spreadsheet would run as a formula starts with one of these: it gets a leading
# apostrophe (the usual guard), so a model or id from upstream can never compute anything.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# --- Rows -------------------------------------------------------------------------------------------


def report_columns(report: dict[str, Any]) -> list[str]:
    """A report's row fields: its groups, then the sums."""
    return [*report["group_by"], *SUM_FIELDS]


def record_columns(all_keys: bool) -> list[str]:
    return [KEY_GROUP, *RECORD_COLUMNS] if all_keys else list(RECORD_COLUMNS)


def record_row(entry: dict[str, Any], all_keys: bool) -> dict[str, Any]:
    """One ledger entry (Ledger.records) as a flat row: the record's fields, when it was seen, its
    estimate's parts; the key's short identity first when rows of every key are listed."""
    record: dict[str, Any] = entry["record"]
    usage = record.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    estimate = estimate_of(record) or {}
    made = request_time(record.get("created_at"))
    row: dict[str, Any] = {KEY_GROUP: short_identity(entry["key_identity"])} if all_keys else {}
    row.update(
        {
            "id": text_or_none(record.get("id")),
            "created_at": iso(made) if made else None,
            "first_seen": _epoch_iso(entry["first_seen"]),
            "last_seen": _epoch_iso(entry["last_seen"]),
            "model": text_or_none(record.get("model")),
            "endpoint": text_or_none(record.get("endpoint")),
            "stream": record.get("stream") if isinstance(record.get("stream"), bool) else None,
            "finish_reason": text_or_none(record.get("finish_reason")),
            "status": text_or_none(record.get("status")),
            "final": bool(entry["final"]),
        }
    )
    row.update({name: _count(usage.get(name)) for name in USAGE_FIELDS})
    row["estimated_cost_usd"] = _amount(estimate.get("total"))
    row.update({f"cost_{part}": _amount(estimate.get(part)) for part in ESTIMATE_PARTS})
    row["cost_source"] = text_or_none(estimate.get("source"))
    row["apiKeyId"] = text_or_none(record.get("apiKeyId"))
    return row


def _epoch_iso(seconds: float) -> str:
    return iso(datetime.fromtimestamp(seconds, UTC))


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _amount(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(float(value), COST_PLACES)
    return None


# --- CSV ------------------------------------------------------------------------------------------


def csv_cell(value: object) -> str:
    """One value as a spreadsheet reads it: fixed-point numbers, true/false, empty for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return fixed_decimal(value)
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def fixed_decimal(value: float) -> str:
    """`0.000001`, `12.5`, `0`: up to COST_PLACES decimals, trailing zeros dropped, no exponent."""
    text = f"{value:.{COST_PLACES}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def write_csv(out: TextIO, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> int:
    """A header row, then one line per row (RFC 4180: CRLF line ends, quotes where needed)."""
    writer = csv.writer(out)
    writer.writerow(columns)
    written = 0
    for row in rows:
        writer.writerow([csv_cell(row.get(name)) for name in columns])
        written += 1
    return written


# --- JSON -----------------------------------------------------------------------------------------


def write_jsonl(out: TextIO, rows: Iterable[dict[str, Any]]) -> int:
    """One JSON object per line."""
    written = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        written += 1
    return written


def write_json_records(out: TextIO, head: dict[str, Any], rows: Iterable[dict[str, Any]]) -> int:
    """`head`'s fields and "records": [rows…], one row per line, written as the rows come."""
    opening = json.dumps(head, ensure_ascii=False)[:-1]  # without its closing brace
    out.write(f'{opening}{", " if head else ""}"records": [')
    written = 0
    for row in rows:
        out.write(("," if written else "") + "\n  " + json.dumps(row, ensure_ascii=False))
        written += 1
    out.write("\n]}\n" if written else "]}\n")
    return written


# --- Tables ---------------------------------------------------------------------------------------

_RECORD_TABLE = (
    ("created_at", "created (UTC)"),
    ("id", "id"),
    ("model", "model"),
    ("endpoint", "endpoint"),
    ("status", "status"),
    ("prompt_tokens", "input"),
    ("completion_tokens", "output"),
    ("cache_read_input_tokens", "cache read"),
    ("cache_creation_input_tokens", "cache write"),
    ("estimated_cost_usd", "est. cost"),
)
_RECORD_TABLE_TEXT = 5  # the first five columns are text, left-aligned; the rest numbers


def records_table(rows: Sequence[dict[str, Any]], all_keys: bool) -> str:
    """The records as aligned text columns, one line each: when, which, status, tokens, cost."""
    columns = [(KEY_GROUP, "key"), *_RECORD_TABLE] if all_keys else list(_RECORD_TABLE)
    text_columns = _RECORD_TABLE_TEXT + int(all_keys)
    header = [title for _, title in columns]
    lines = [[_table_cell(name, row) for name, _ in columns] for row in rows]
    return aligned([header, *lines], text_columns)


def _table_cell(name: str, row: dict[str, Any]) -> str:
    value = row.get(name)
    if name == "created_at":
        moment: str = value or row["first_seen"]
        return moment.replace("T", " ").removesuffix("Z")
    if name == "status":
        shown = value or "—"
        return shown if row["final"] else f"{shown} (not final)"
    if name == "estimated_cost_usd":
        return "—" if value is None else usd(value)
    if isinstance(value, int):
        return f"{value:,}"
    return "—" if value is None else str(value)
