"""A report's period and grouping from what a person types (pure): dates, datetimes, "7d", "24h".

Everything is UTC. A date alone means the start of that day for `since` and the end of it for
`until`, so `since=2026-11-01, until=2026-11-30` is all of November.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

GROUPS = ("day", "model", "endpoint")
DEFAULT_GROUP_BY = ("day", "model")
MAX_GROUPS = 2
DEFAULT_SPAN = timedelta(days=7)
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000

ACCEPTED_TIMES = (
    'an ISO date ("2026-11-01"), an ISO datetime ("2026-11-01T09:30", UTC unless it has an offset), '
    'a span back from now ("7d", "24h", "90m", "2w") or "now"'
)
_SPAN = re.compile(r"(\d{1,6})\s*(m|min|h|d|w)", re.IGNORECASE)
_UNIT_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class InvalidReportArgument(ValueError):
    """An argument a report can't use; the message says which and what is accepted."""


@dataclass(frozen=True, slots=True)
class Period:
    """From `since` (included) to `until` (excluded), both aware UTC datetimes."""

    since: datetime
    until: datetime

    def epoch_bounds(self) -> tuple[float, float]:
        return self.since.timestamp(), self.until.timestamp()


def iso(moment: datetime) -> str:
    """`2026-11-01T09:30:00Z`: seconds precision, UTC, the form spreadsheets and people both read."""
    # isoformat, not strftime: "%Y" is not zero-padded before the year 1000 on every platform.
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def parse_moment(raw: object, name: str, now: datetime, *, end_of_day: bool = False) -> datetime:
    """One end of a period. A date alone is the start of that day (the end of it with `end_of_day`)."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidReportArgument(f"{name} must be {ACCEPTED_TIMES}.")
    text = raw.strip()
    try:
        return _moment(text, now, end_of_day)
    except OverflowError:  # "999999d", "9999-12-31" as an end of day: before year 1 or after 9999
        raise InvalidReportArgument(
            f"{name} {text!r} reaches outside the years 1 to 9999; use {ACCEPTED_TIMES}."
        ) from None
    except ValueError:
        raise InvalidReportArgument(
            f"{name} {text!r} is not a time I can read; use {ACCEPTED_TIMES}."
        ) from None


def _moment(text: str, now: datetime, end_of_day: bool) -> datetime:
    if text.lower() == "now":
        return now
    span = _SPAN.fullmatch(text)
    if span:
        return now - timedelta(seconds=int(span[1]) * _UNIT_SECONDS[span[2].lower()])
    try:  # any ISO date form ("2026-11-30", "20261130", "2026-W48-1") is a whole day
        day = date.fromisoformat(text)
    except ValueError:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start + timedelta(days=1) if end_of_day else start


def parse_period(since: object, until: object, now: datetime) -> Period:
    """The period asked for; the last 7 days up to now when neither end is given."""
    end = now if until is None else parse_moment(until, "until", now, end_of_day=True)
    start = _week_before(end) if since is None else parse_moment(since, "since", now)
    if start >= end:
        raise InvalidReportArgument(
            f"since ({iso(start)}) is not before until ({iso(end)}); give a since earlier than until "
            f"(each is {ACCEPTED_TIMES})."
        )
    return Period(start, end)


def _week_before(end: datetime) -> datetime:
    try:
        return end - DEFAULT_SPAN
    except OverflowError:  # an until in the first days of year 1
        raise InvalidReportArgument(
            f"until ({iso(end)}) leaves no 7 days before it; give since too (each is {ACCEPTED_TIMES})."
        ) from None


def parse_group_by(raw: object) -> tuple[str, ...]:
    """0 to 2 distinct groups out of day, model and endpoint, in the order given."""
    accepted = f"a list of 0 to {MAX_GROUPS} of {', '.join(GROUPS)}"
    if isinstance(raw, str):  # "day,model", as a person or a CLI would write it
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list | tuple):
        raise InvalidReportArgument(f'group_by must be {accepted}, like ["day", "model"].')
    groups: list[str] = []
    for item in raw:
        group = item.strip().lower() if isinstance(item, str) else item
        if group not in GROUPS:
            raise InvalidReportArgument(f"group_by has {item!r}; use {accepted}.")
        if group not in groups:
            groups.append(group)
    if len(groups) > MAX_GROUPS:
        raise InvalidReportArgument(f"group_by has {len(groups)} groups; use {accepted}.")
    return tuple(groups)


def parse_limit(raw: object) -> int:
    if isinstance(raw, float) and raw.is_integer():  # 20.0 from a client that sends every number so
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_LIMIT:
        raise InvalidReportArgument(f"limit must be a whole number of rows from 1 to {MAX_LIMIT}.")
    return raw
