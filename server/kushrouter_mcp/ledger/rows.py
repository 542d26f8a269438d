"""A record as a ledger row: the columns reports sum, and the record itself as JSON.

A row is keyed by (key identity, generation id). Its time (`at`) is when the request was made
(the record's `created_at`), or when this server first saw it if the record has none; `day` is
that time's UTC day, stored so a report by day groups on a plain integer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..records.models import USAGE_FIELDS
from ..records.times import request_time
from ..records.totals import estimated_total
from ..reports.report import day_number
from ..upstream.cache import is_final

COLUMNS: tuple[str, ...] = (
    "key_identity",
    "id",
    "at",
    "day",
    "created_at",
    "first_seen",
    "last_seen",
    "model",
    "endpoint",
    "status",
    "final",
    *USAGE_FIELDS,
    "cost_usd",
    "record",
)

# The machine owner's reports (every key's rows) tell keys apart by this column: the start of the
# key's identity in hex, which names no key and means nothing outside this ledger.
KEY_GROUP = "key_identity"
SHORT_IDENTITY_HEX = 12


def short_identity(identity_hex: str) -> str:
    return identity_hex[:SHORT_IDENTITY_HEX]


def token_count(usage: Mapping[str, Any], name: str) -> int:
    """A usage field as a count: a missing or non-integer value counts 0 (as the batch totals)."""
    value = usage.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def ledger_row(identity: bytes, record: dict[str, Any], seen_at: float) -> tuple[Any, ...]:
    """The row for `record`, seen at `seen_at` (epoch seconds) by the key with `identity`."""
    made = request_time(record.get("created_at"))
    at = made.timestamp() if made else seen_at
    usage = record.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return (
        identity,
        str(record.get("id")),
        at,
        day_number(at),
        made.isoformat() if made else None,
        seen_at,
        seen_at,
        _text(record.get("model")),
        _text(record.get("endpoint")),
        _text(record.get("status")),
        int(is_final(record)),
        *(token_count(usage, name) for name in USAGE_FIELDS),
        estimated_total(record),
        json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=str),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
