"""A record as a ledger row: the columns reports sum, and the record itself as JSON.

A row is keyed by (key identity, generation id). Its time (`at`) is when the request was made
(the record's `created_at`), or when this server first saw it if the record has none; `day` is
that time's UTC day, stored so a report by day groups on a plain integer.
"""

from __future__ import annotations

import json
from typing import Any

from ..records.models import USAGE_FIELDS
from ..records.times import request_time
from ..records.totals import estimated_total, token_count
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
        text_or_none(record.get("model")),
        text_or_none(record.get("endpoint")),
        text_or_none(record.get("status")),
        int(is_final(record)),
        *(token_count(usage, name) for name in USAGE_FIELDS),
        estimated_total(record),
        json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=str),
    )


def text_or_none(value: object) -> str | None:
    """A record's text field, or None when it is missing, empty or not text."""
    return value if isinstance(value, str) and value else None
