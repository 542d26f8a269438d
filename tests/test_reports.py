"""The pure reports layer: periods and groups from what people type, rows in order, totals, the table.

No I/O: every expected value is worked out here from the inputs each test builds.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kushrouter_mcp.records.models import USAGE_FIELDS
from kushrouter_mcp.reports.periods import (
    InvalidReportArgument,
    Period,
    parse_group_by,
    parse_limit,
    parse_period,
)
from kushrouter_mcp.reports.report import GroupSums, build_report, report_table

NOW = datetime(2026, 12, 2, 15, 45, 30, tzinfo=UTC)
TOKEN_FIELDS = USAGE_FIELDS  # the record's five token counts
# The accepted forms every refusal of a time must name, as the user would type them.
ACCEPTED_EXAMPLES = ("2026-11-01", "2026-11-01T09:30", "7d", "24h", '"now"')


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def refusal(call: Any, *args: Any) -> str:
    with pytest.raises(InvalidReportArgument) as refused:
        call(*args)
    return str(refused.value)


# --- parse_period ----------------------------------------------------------------------------------


def test_dates_are_whole_utc_days_and_a_date_in_until_includes_that_day() -> None:
    period = parse_period("2026-11-01", "2026-11-30", NOW)
    assert period == Period(utc(2026, 11, 1), utc(2026, 12, 1)), "all of November"
    last_second = utc(2026, 11, 30, 23, 59, 59).timestamp()
    since, until = period.epoch_bounds()
    assert since <= last_second < until
    assert parse_period("2026-11-30", "2026-11-30", NOW) == Period(utc(2026, 11, 30), utc(2026, 12, 1))


def test_the_compact_and_week_iso_date_forms_are_whole_days_too() -> None:
    assert parse_period("20261101", "20261130", NOW) == Period(utc(2026, 11, 1), utc(2026, 12, 1))
    # 2026-W48-1 is Monday 2026-11-23.
    assert parse_period("2026-W48-1", "2026-W48-1", NOW) == Period(utc(2026, 11, 23), utc(2026, 11, 24))


@pytest.mark.parametrize(
    ("typed", "moment"),
    [
        ("2026-11-01T09:30", utc(2026, 11, 1, 9, 30)),  # naive: UTC
        ("2026-11-01T09:30:15", utc(2026, 11, 1, 9, 30, 15)),
        ("2026-11-01T09:30Z", utc(2026, 11, 1, 9, 30)),
        ("2026-11-01T09:30+02:00", utc(2026, 11, 1, 7, 30)),
        ("2026-11-01T23:30-05:00", utc(2026, 11, 2, 4, 30)),  # the next UTC day
        ("2026-11-01 09:30:00+00:00", utc(2026, 11, 1, 9, 30)),
        ("  2026-11-01T09:30  ", utc(2026, 11, 1, 9, 30)),
    ],
)
def test_datetimes_are_read_in_utc_unless_they_carry_an_offset(typed: str, moment: datetime) -> None:
    assert parse_period(typed, "2026-12-01", NOW).since == moment
    assert parse_period("2026-10-01", typed, NOW).until == moment, "a datetime in until is that moment"


@pytest.mark.parametrize(
    ("span", "back"),
    [
        ("90m", timedelta(minutes=90)),
        ("90min", timedelta(minutes=90)),
        ("24h", timedelta(hours=24)),
        ("24H", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("7 d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_spans_count_back_from_now(span: str, back: timedelta) -> None:
    assert parse_period(span, None, NOW) == Period(NOW - back, NOW)
    assert parse_period("30d", span, NOW) == Period(NOW - timedelta(days=30), NOW - back)


def test_now_and_the_default_week() -> None:
    assert parse_period(None, None, NOW) == Period(NOW - timedelta(days=7), NOW)
    assert parse_period("2026-11-01", "now", NOW) == Period(utc(2026, 11, 1), NOW)
    assert parse_period(None, "2026-11-30", NOW) == Period(utc(2026, 11, 24), utc(2026, 12, 1))
    assert parse_period("2w", " NOW ", NOW) == Period(NOW - timedelta(weeks=2), NOW)


@pytest.mark.parametrize(
    ("since", "until"),
    [
        ("2026-11-02", "2026-11-01"),
        ("2026-11-01T10:00", "2026-11-01T10:00"),  # an empty period is refused, not answered
        ("now", None),
        ("now", "now"),
        ("1d", "2d"),
        ("2026-11-02T00:00+01:00", "2026-11-01T23:00Z"),  # equal once both are UTC
    ],
)
def test_a_since_not_before_until_is_refused_saying_the_accepted_forms(since: str, until: str | None) -> None:
    message = refusal(parse_period, since, until, NOW)
    assert "since" in message and "until" in message and "not before" in message, message
    for example in ACCEPTED_EXAMPLES:
        assert example in message, (example, message)


@pytest.mark.parametrize(
    ("since", "until", "named"),
    [
        ("yesterday", None, "since"),
        ("2026-13-01", None, "since"),
        ("2026-11-31", None, "since"),
        ("7x", None, "since"),
        ("1731753062", None, "since"),  # epoch seconds are not a form people type
        ("", None, "since"),
        ("   ", None, "since"),
        (7, None, "since"),
        (["7d"], None, "since"),
        (None, "tomorrow", "until"),
        (None, "2026-11-01T25:00", "until"),
        (None, 20261101, "until"),
        # Out of the calendar's range: refused with the accepted forms, not an OverflowError.
        ("999999d", None, "since"),
        ("9999-12-31T23:59:59-05:00", None, "since"),
        ("2026-11-01", "9999-12-31", "until"),
        (None, "0001-01-03", "until"),
    ],
)
def test_an_unreadable_time_is_refused_naming_the_argument_and_the_accepted_forms(
    since: object, until: object, named: str
) -> None:
    message = refusal(parse_period, since, until, NOW)
    assert message.startswith(named), message
    for example in ACCEPTED_EXAMPLES:
        assert example in message, (example, message)


def test_the_earliest_dates_are_written_as_iso_with_four_digit_years() -> None:
    period = parse_period("0001-01-01", "0001-01-31", NOW)
    report = build_report(period, [], [], 10)
    assert (report["since"], report["until"]) == ("0001-01-01T00:00:00Z", "0001-02-01T00:00:00Z")


# --- parse_group_by, parse_limit -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "groups"),
    [
        ("day,model", ("day", "model")),
        (" Day , MODEL ", ("day", "model")),
        ("endpoint", ("endpoint",)),
        ("model,,day,", ("model", "day")),
        ("", ()),
        (["model", "day"], ("model", "day")),
        (("endpoint", "Day"), ("endpoint", "day")),
        (["day", "DAY", "day"], ("day",)),
        ("day,model,day,model", ("day", "model")),  # duplicates collapse before the count
        ([], ()),
    ],
)
def test_group_by_reads_strings_and_lists_in_the_order_given(typed: object, groups: tuple[str, ...]) -> None:
    assert parse_group_by(typed) == groups


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        (["week"], "'week'"),
        ("day,provider", "'provider'"),
        ([1], "1"),
        (["day", None], "None"),
        (["day", "model", "endpoint"], "3 groups"),
        ("day,model,endpoint", "3 groups"),
        (None, "group_by must be"),
        ({"day": True}, "group_by must be"),
        (5, "group_by must be"),
    ],
)
def test_unknown_groups_and_three_groups_are_refused_saying_what_is_accepted(
    typed: object, said: str
) -> None:
    message = refusal(parse_group_by, typed)
    assert said in message, message
    assert "day, model, endpoint" in message and "0 to 2" in message, message


@pytest.mark.parametrize(("typed", "limit"), [(1, 1), (100, 100), (10_000, 10_000), (20.0, 20)])
def test_limit_takes_whole_numbers_from_1_to_10000(typed: object, limit: int) -> None:
    assert parse_limit(typed) == limit
    assert type(parse_limit(typed)) is int


@pytest.mark.parametrize("typed", [0, -1, 10_001, 2.5, True, False, "20", None, float("nan"), [5]])
def test_other_limits_are_refused_saying_the_range(typed: object) -> None:
    assert "1 to 10000" in refusal(parse_limit, typed)


# --- build_report ----------------------------------------------------------------------------------

NOVEMBER = Period(utc(2026, 11, 1), utc(2026, 12, 1))
DAY_1 = (utc(2026, 11, 3) - utc(1970, 1, 1)).days  # a day as the ledger stores it: days since 1970


def sums(
    generations: int, tokens: tuple[int, int, int, int, int], cost: float | None, unpriced: int = 0
) -> tuple[Any, ...]:
    return (generations, *tokens, cost, unpriced, 0)


def group(
    keys: tuple[Any, ...], generations: int = 1, cost: float | None = 1.0, unpriced: int = 0
) -> GroupSums:
    tokens = (generations * 10, generations * 20, generations * 30, generations, 2 * generations)
    return GroupSums(keys, sums(generations, tokens, cost, unpriced))


def test_rows_go_by_day_then_cost_largest_first_with_unpriced_rows_last() -> None:
    groups = [
        group((DAY_1 + 1, "m-cheap"), cost=0.5),
        group((DAY_1, "m-unpriced"), cost=None, unpriced=1),
        group((DAY_1, "m-cheap"), cost=0.25),
        group((DAY_1, "m-dear"), cost=3.0),
        group((DAY_1 + 1, "m-dear"), cost=7.0),
        group((DAY_1, "m-zero"), cost=0.0),
    ]
    report = build_report(NOVEMBER, ["day", "model"], groups, 100)
    assert [(row["day"], row["model"]) for row in report["rows"]] == [
        ("2026-11-03", "m-dear"),
        ("2026-11-03", "m-cheap"),
        ("2026-11-03", "m-zero"),
        ("2026-11-03", "m-unpriced"),
        ("2026-11-04", "m-dear"),
        ("2026-11-04", "m-cheap"),
    ]
    assert report["group_by"] == ["day", "model"]
    assert (report["since"], report["until"]) == ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
    assert report["more_rows"] == 0


def test_rows_name_their_groups_and_unknown_stands_for_a_missing_model_or_endpoint() -> None:
    report = build_report(NOVEMBER, ["model", "endpoint"], [group((None, "openai.responses"))], 10)
    (row,) = report["rows"]
    assert row["model"] == "unknown" and row["endpoint"] == "openai.responses"
    assert "day" not in row
    expected_fields = {"generations", *TOKEN_FIELDS, "estimated_cost_usd", "unpriced", "not_final"}
    assert set(row) == {"model", "endpoint", *expected_fields}


def test_limit_cuts_the_rows_but_the_totals_cover_every_group() -> None:
    groups = [group((f"model-{n}",), generations=n + 1, cost=float(n + 1)) for n in range(7)]
    report = build_report(NOVEMBER, ["model"], groups, 3)
    assert [row["model"] for row in report["rows"]] == ["model-6", "model-5", "model-4"]
    assert report["more_rows"] == 4
    assert report["totals"]["generations"] == sum(range(1, 8))
    assert report["totals"]["estimated_cost_usd"] == pytest.approx(28.0)
    assert report["totals"]["prompt_tokens"] == 10 * sum(range(1, 8))


def test_an_ungrouped_report_is_one_row_and_over_nothing_no_row_at_all() -> None:
    one = build_report(NOVEMBER, [], [group((), generations=4, cost=2.5)], 10)
    assert len(one["rows"]) == 1 and one["rows"][0]["generations"] == 4
    assert one["totals"]["generations"] == 4 and one["totals"]["estimated_cost_usd"] == 2.5
    # The ledger sums an empty period to a row of zeros (and a NULL cost): no row comes of it.
    empty = build_report(
        NOVEMBER, [], [GroupSums((), (0, None, None, None, None, None, None, None, None))], 10
    )
    assert empty["rows"] == [] and empty["more_rows"] == 0
    assert empty["totals"] == {
        "generations": 0,
        **dict.fromkeys(TOKEN_FIELDS, 0),
        "estimated_cost_usd": None,
        "unpriced": 0,
        "not_final": 0,
    }


def test_a_cost_is_null_only_when_nothing_in_it_is_priced() -> None:
    groups = [group(("a",), cost=None, unpriced=1), group(("b",), generations=2, cost=None, unpriced=2)]
    report = build_report(NOVEMBER, ["model"], groups, 10)
    assert report["totals"]["estimated_cost_usd"] is None and report["totals"]["unpriced"] == 3
    partly = build_report(NOVEMBER, ["model"], [*groups, group(("c",), cost=0.125)], 10)
    assert partly["totals"]["estimated_cost_usd"] == 0.125 and partly["totals"]["unpriced"] == 3


group_sums = st.builds(
    lambda generations, tokens, cost, unpriced, not_final, model, day: GroupSums(
        (day, model), (generations, *tokens, cost, min(unpriced, generations), min(not_final, generations))
    ),
    st.integers(1, 10_000),
    st.tuples(*[st.integers(0, 10**9)] * 5),
    st.none() | st.floats(0, 1000, allow_nan=False),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.text(min_size=1, max_size=8),
    st.integers(DAY_1, DAY_1 + 27),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(group_sums, max_size=25, unique_by=lambda g: g.keys), st.integers(1, 30))
def test_totals_are_the_sums_of_every_group_whatever_the_limit(groups: list[GroupSums], limit: int) -> None:
    report = build_report(NOVEMBER, ["day", "model"], groups, limit)
    totals = report["totals"]
    assert len(report["rows"]) == min(limit, len(groups))
    assert report["more_rows"] == max(0, len(groups) - limit)
    assert totals["generations"] == sum(g.sums[0] for g in groups)
    for index, name in enumerate(TOKEN_FIELDS, start=1):
        assert totals[name] == sum(g.sums[index] for g in groups), name
    assert totals["unpriced"] == sum(g.sums[7] for g in groups)
    assert totals["not_final"] == sum(g.sums[8] for g in groups)
    costs = [g.sums[6] for g in groups if g.sums[6] is not None]
    if costs:
        assert math.isclose(totals["estimated_cost_usd"], math.fsum(costs), rel_tol=1e-9, abs_tol=1e-9)
    else:
        assert totals["estimated_cost_usd"] is None
    days = [row["day"] for row in report["rows"]]
    assert days == sorted(days)
    for before, after in zip(report["rows"], report["rows"][1:], strict=False):
        if before["day"] == after["day"] and after["estimated_cost_usd"] is not None:
            assert before["estimated_cost_usd"] is not None
            assert before["estimated_cost_usd"] >= after["estimated_cost_usd"]


# --- report_table ----------------------------------------------------------------------------------


def table_report() -> dict[str, Any]:
    groups = [
        GroupSums((DAY_1, "gpt-5-mini"), sums(3, (1200, 34_567, 35_767, 0, 900), 12.5)),
        GroupSums((DAY_1, "kush-ft-7b"), sums(1, (5, 7, 12, 0, 0), None, unpriced=1)),
        GroupSums((DAY_1 + 1, "claude-sonnet-4-5"), sums(2, (10, 20, 30, 1_000_000, 40), 0.5, unpriced=1)),
    ]
    return build_report(NOVEMBER, ["day", "model"], groups, 100)


def test_the_table_has_a_header_a_line_per_row_and_a_total() -> None:
    lines = report_table(table_report()).splitlines()
    assert len(lines) == 1 + 3 + 1
    assert lines[0].split()[:2] == ["day", "model"] and lines[0].endswith("est. cost")
    assert lines[1].startswith("2026-11-03") and "gpt-5-mini" in lines[1]
    assert lines[2].startswith("2026-11-03") and "kush-ft-7b" in lines[2]
    assert lines[3].startswith("2026-11-04") and "claude-sonnet-4-5" in lines[3]
    assert lines[4].startswith("total")
    assert re.search(r"\b3\s+1,200\s+34,567\b", lines[1]), lines[1]
    assert lines[1].endswith("$12.50")
    assert lines[2].endswith("—"), "an unpriced row shows no amount"
    assert "(1 unpriced)" in lines[3], "a partly priced row says so"
    assert re.search(r"\b6\s+1,215\s+34,594\b", lines[4]), "the total adds the rows"
    assert lines[4].endswith("$13.00 (2 unpriced)"), lines[4]


def test_the_tables_columns_line_up() -> None:
    lines = report_table(table_report()).splitlines()
    assert len({len(line) for line in lines}) == 1, "every line as wide: numbers end in one column"
    header = lines[0]
    for title in ("gens", "input", "output", "cache read", "cache write", "est. cost"):
        end = header.index(title) + len(title)
        for line in lines[1:]:
            assert line[end - 1] != " ", (title, line)  # right-aligned under its title
            assert end == len(line) or line[end] == " ", (title, line)
    model_start = header.index("model")
    for line in lines[1:4]:
        assert line[model_start - 1] == " " and line[model_start] != " ", line  # left-aligned names


def test_an_ungrouped_table_is_the_total_line_alone() -> None:
    report = build_report(NOVEMBER, [], [group((), generations=2, cost=0.25)], 10)
    lines = report_table(report).splitlines()
    assert len(lines) == 2 and lines[1].startswith("total") and lines[1].endswith("$0.2500")
