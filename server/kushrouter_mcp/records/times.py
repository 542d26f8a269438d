"""When a request was made, from a record's `created_at` (pure): epoch seconds or ms, or ISO 8601."""

from __future__ import annotations

from datetime import UTC, datetime


def request_time(created_at: object) -> datetime | None:
    """When the request was made: epoch seconds (or milliseconds) or an ISO 8601 string; None
    for anything else."""
    if isinstance(created_at, int | float) and not isinstance(created_at, bool) and created_at > 0:
        seconds = created_at / 1000 if created_at >= 1e11 else created_at  # 1e11 s is the year 5138
        return datetime.fromtimestamp(seconds, UTC) if seconds < 1e11 else None
    if isinstance(created_at, str):
        try:
            parsed = datetime.fromisoformat(created_at.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
