"""The Pricer against genai-prices' own numbers: every expected amount is computed here.

Expected amounts come from the per-token prices in the genai-prices snapshot (its ModelPrice
fields) times the tokens of each part under the endpoint's semantics, or from genai-prices'
`calc_price` itself; never from the program's output. No servers: pure and fast.
"""

from __future__ import annotations

import copy
import functools
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import genai_prices
import pytest
from genai_prices import Usage, data_snapshot
from genai_prices.types import ModelInfo, ModelPrice, Provider, StartDateConstraint, TieredPrices
from hypothesis import given, settings
from hypothesis import strategies as st

from costs_helpers import assert_unpriced, rate_at
from kushrouter_mcp.pricing import Pricer
from kushrouter_mcp.pricing.list_prices import ListPrices, NoListPrice
from kushrouter_mcp.pricing.rates import priced
from kushrouter_mcp.pricing.semantics import billed_tokens
from kushrouter_mcp.records.models import ESTIMATE_KEY, FALLBACK_ESTIMATE_KEY
from kushrouter_mcp.settings.prices_file import PricesFile, parse_prices

SERVER = Path(__file__).resolve().parent.parent / "server"
PER = Decimal(1_000_000)
WHEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # the request's time, so the price in force is fixed
CREATED_AT = int(WHEN.timestamp())
OPENAI = ("openai.chat.completions", "openai.responses")
ANTHROPIC = "anthropic.messages"
ENDPOINTS = (*OPENAI, ANTHROPIC)
PARTS = ("input", "cache_read", "cache_write", "output")
PRICE_FIELDS = {
    "input": "input_mtok",
    "cache_read": "cache_read_mtok",
    "cache_write": "cache_write_mtok",
    "output": "output_mtok",
}
# The model name decides the provider: the spec, not what the program says.
MODELS = {
    "claude-sonnet-4-5-20250929": "anthropic",
    "claude-opus-4-1": "anthropic",
    "claude-3-5-haiku-latest": "anthropic",
    "gpt-5-mini-2025-08-07": "openai",
    "gpt-4o": "openai",
    "o3-mini": "openai",  # no cache-write price
    "gemini-2.5-pro": "google",  # tiered prices
}
SOURCE = f"genai-prices {genai_prices.__version__}"
BOUNDED = settings(max_examples=200, deadline=None, derandomize=True, database=None)


@dataclass(frozen=True)
class Split:
    """A usage's four billed parts, written as each endpoint family reports them."""

    uncached: int
    read: int
    write: int
    output: int

    @property
    def whole_input(self) -> int:
        return self.uncached + self.read + self.write

    def usage(self, endpoint: str) -> dict[str, int]:
        """OpenAI semantics: prompt_tokens holds the cache; Anthropic's: it holds the uncached only."""
        prompt = self.uncached if endpoint == ANTHROPIC else self.whole_input
        return {
            "prompt_tokens": prompt,
            "completion_tokens": self.output,
            "cache_read_input_tokens": self.read,
            "cache_creation_input_tokens": self.write,
        }

    def library_usage(self) -> Usage:
        """The same tokens as genai-prices counts them: input_tokens is the whole input."""
        return Usage(
            input_tokens=self.whole_input,
            cache_read_tokens=self.read,
            cache_write_tokens=self.write,
            output_tokens=self.output,
        )


MIXED = Split(uncached=6_845, read=4_000, write=1_500, output=678)


def snapshot_model(ref: str) -> tuple[Provider, ModelInfo]:
    return data_snapshot.get_snapshot().find_provider_model(ref, None, None, None)


def expected_rates(price: ModelPrice, whole_input: int) -> dict[str, Decimal]:
    """Each part's rate; a part without a price of its own is billed at the input rate."""
    input_rate = rate_at(price.input_mtok, whole_input)
    assert input_rate is not None
    rates = {part: rate_at(getattr(price, field), whole_input) for part, field in PRICE_FIELDS.items()}
    return {part: input_rate if rate is None else rate for part, rate in rates.items()}


def expected_parts(price: ModelPrice, split: Split) -> dict[str, Decimal]:
    rates = expected_rates(price, split.whole_input)
    counts = {
        "input": split.uncached,
        "cache_read": split.read,
        "cache_write": split.write,
        "output": split.output,
    }
    return {part: rates[part] * counts[part] / PER for part in PARTS}


def close(value: object, expected: Decimal) -> bool:
    return isinstance(value, float) and value == pytest.approx(float(expected), rel=1e-9, abs=1e-12)


def assert_amounts(estimate: dict[str, Any], parts: dict[str, Decimal]) -> None:
    for part in PARTS:
        assert close(estimate[part], parts[part]), (part, estimate[part], parts[part])
    assert close(estimate["total"], sum(parts.values(), Decimal(0)))


def prices_file(text: str, name: str = "prices.toml") -> PricesFile:
    return parse_prices(text, name.endswith(".toml"), f"KUSHROUTER_MCP_PRICES={name!r}", name)


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer()


# --- Each part at its own rate, under the endpoint's semantics -------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("model", MODELS)
def test_each_part_is_priced_at_its_own_rate(pricer: Pricer, model: str, endpoint: str) -> None:
    provider, info = snapshot_model(model)
    price = info.get_prices(WHEN)
    usage = MIXED.usage(endpoint)
    estimate = pricer.estimate(endpoint, model, usage, CREATED_AT)

    assert_amounts(estimate, expected_parts(price, MIXED))
    assert estimate["currency"] == "USD"
    assert estimate["provider"] == MODELS[model] == provider.id
    assert estimate["model_priced"] == info.id
    assert estimate["source"].startswith(SOURCE)
    rates = expected_rates(price, MIXED.whole_input)
    assert estimate["rates_per_mtok"] == {part: float(rates[part]) for part in PARTS}
    # The parts really are at different rates, so a part priced at another's rate would show.
    assert rates["cache_read"] != rates["input"] != rates["output"]

    note = estimate["note"]
    assert f"{endpoint} semantics" in note
    if endpoint == ANTHROPIC:
        assert f"prompt_tokens ({usage['prompt_tokens']:,}) excludes cache reads ({MIXED.read:,})" in note
        assert f"billed input {MIXED.whole_input:,}" in note
    else:
        assert f"prompt_tokens ({usage['prompt_tokens']:,}) includes cache reads ({MIXED.read:,})" in note
        assert f"uncached input {MIXED.uncached:,}" in note
    if price.cache_write_mtok is None:
        assert f"No cache-write rate for {info.id}: cache writes at the input rate." in note
    else:
        assert "No cache-write rate" not in note
    assert ("5-minute rate" in note) == (price.cache_write_1h_mtok is not None)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_without_cache_tokens_there_is_nothing_to_explain(pricer: Pricer, endpoint: str) -> None:
    _, info = snapshot_model("gpt-4o")
    plain = Split(uncached=5_000, read=0, write=0, output=300)
    estimate = pricer.estimate(endpoint, "gpt-4o", plain.usage(endpoint), CREATED_AT)
    assert_amounts(estimate, expected_parts(info.get_prices(WHEN), plain))
    assert estimate["cache_read"] == estimate["cache_write"] == 0
    assert estimate["note"] is None


def test_a_claude_model_on_the_openai_endpoint_is_anthropics_price_under_openai_semantics(
    pricer: Pricer,
) -> None:
    _, info = snapshot_model("claude-sonnet-4-5")
    price = info.get_prices(WHEN)
    usage = {"prompt_tokens": 10_000, "completion_tokens": 500, "cache_read_input_tokens": 4_000}
    on_openai = pricer.estimate("openai.chat.completions", "claude-sonnet-4-5", usage, CREATED_AT)
    on_anthropic = pricer.estimate(ANTHROPIC, "claude-sonnet-4-5", usage, CREATED_AT)

    assert on_openai["provider"] == on_anthropic["provider"] == "anthropic"
    # The same counts mean different things: the reads are inside prompt_tokens on OpenAI's endpoint.
    assert_amounts(on_openai, expected_parts(price, Split(6_000, 4_000, 0, 500)))
    assert_amounts(on_anthropic, expected_parts(price, Split(10_000, 4_000, 0, 500)))
    assert on_openai["total"] < on_anthropic["total"]


def test_cache_writes_beyond_an_openai_prompt_count_are_counted_on_top(pricer: Pricer) -> None:
    """Reads fit inside prompt_tokens, reads + writes don't: the writes came on top of it."""
    _, info = snapshot_model("claude-sonnet-4-5")
    usage = {
        "prompt_tokens": 1_000,
        "completion_tokens": 10,
        "cache_read_input_tokens": 800,
        "cache_creation_input_tokens": 500,
    }
    estimate = pricer.estimate("openai.chat.completions", "claude-sonnet-4-5", usage, CREATED_AT)
    assert_amounts(estimate, expected_parts(info.get_prices(WHEN), Split(200, 800, 500, 10)))
    assert "writes count on top" in estimate["note"]


# --- A missing cache rate is the input rate, and the note says so ---------------------------------


def test_a_model_without_a_cache_write_price_bills_writes_at_the_input_rate(pricer: Pricer) -> None:
    _, info = snapshot_model("o3-mini")
    price = info.get_prices(WHEN)
    input_rate, read_rate = price.input_mtok, price.cache_read_mtok
    assert isinstance(input_rate, Decimal) and isinstance(read_rate, Decimal)  # flat prices
    assert price.cache_write_mtok is None and read_rate != input_rate  # the premise
    estimate = pricer.estimate(ANTHROPIC, "o3-mini", MIXED.usage(ANTHROPIC), CREATED_AT)
    assert close(estimate["cache_write"], input_rate * MIXED.write / PER)
    assert close(estimate["cache_read"], read_rate * MIXED.read / PER)
    assert estimate["rates_per_mtok"]["cache_write"] == float(input_rate)
    assert "No cache-write rate for o3-mini: cache writes at the input rate." in estimate["note"]
    assert "No cache-read rate" not in estimate["note"]


def test_a_prices_file_entry_without_a_cache_read_price_bills_reads_at_the_input_rate() -> None:
    pricer = Pricer(prices_file('[models."house-model"]\ninput = 2.5\noutput = 7.0\ncache_write = 3.0\n'))
    split = Split(uncached=1_000, read=3_000, write=2_000, output=400)
    estimate = pricer.estimate(ANTHROPIC, "house-model", split.usage(ANTHROPIC))
    input_rate, write_rate, output_rate = Decimal("2.5"), Decimal("3.0"), Decimal("7.0")
    assert_amounts(
        estimate,
        {
            "input": input_rate * 1_000 / PER,
            "cache_read": input_rate * 3_000 / PER,
            "cache_write": write_rate * 2_000 / PER,
            "output": output_rate * 400 / PER,
        },
    )
    assert "No cache-read rate for house-model: cache reads at the input rate." in estimate["note"]
    assert "No cache-write rate" not in estimate["note"]


# --- Tiered prices: the whole input, cache included, decides the tier of every part ----------------


@pytest.mark.parametrize("model", ["gemini-2.5-pro", "claude-sonnet-4-5"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_part_switches_tier_together_when_the_whole_input_passes_the_start(
    pricer: Pricer, model: str, endpoint: str
) -> None:
    _, info = snapshot_model(model)
    price = info.get_prices(WHEN)
    assert isinstance(price.input_mtok, TieredPrices)
    start = price.input_mtok.tiers[0].start
    # Most of the input is a cache read: only the whole input (not the uncached part) passes the start.
    below = Split(uncached=start - 150_000 - 2_000, read=150_000, write=2_000, output=1_000)
    above = Split(uncached=below.uncached + 1, read=150_000, write=2_000, output=1_000)
    assert (below.whole_input, above.whole_input) == (start, start + 1)

    low = pricer.estimate(endpoint, model, below.usage(endpoint), CREATED_AT)
    high = pricer.estimate(endpoint, model, above.usage(endpoint), CREATED_AT)
    assert_amounts(low, expected_parts(price, below))
    assert_amounts(high, expected_parts(price, above))
    for part, field in PRICE_FIELDS.items():
        tiered = getattr(price, field) if getattr(price, field) is not None else price.input_mtok
        if isinstance(tiered, TieredPrices):
            assert low["rates_per_mtok"][part] == float(tiered.base)
            assert high["rates_per_mtok"][part] == float(tiered.tiers[0].price) != float(tiered.base)


# --- Our split adds up to genai-prices' own arithmetic, for every model -----------------------------


def fee(price: ModelPrice) -> Decimal | None:
    """A per-request fee, which no token count shows; our estimate leaves it out and says so."""
    value = price.requests_kcount
    assert value is None or isinstance(value, Decimal)
    return value


@functools.cache
def named_models() -> tuple[tuple[str, str, str], ...]:
    """(name, provider id, model id) for every snapshot model the Pricer finds by a name alone.

    A model id, or provider/model for the ones another provider's model of the same id shadows.
    """
    pricer, found = Pricer(), []
    usage = {"prompt_tokens": 1, "completion_tokens": 1}
    for provider in data_snapshot.get_snapshot().providers:
        for info in provider.models:
            for name in (info.id, f"{provider.id}/{info.id}"):
                estimate = pricer.estimate(ANTHROPIC, name, usage, CREATED_AT)
                if (estimate["provider"], estimate["model_priced"]) == (provider.id, info.id):
                    found.append((name, provider.id, info.id))
                    break
    return tuple(found)


def library_total(split: Split, provider_id: str, model_id: str, when: datetime) -> Decimal:
    calculation = genai_prices.calc_price(
        split.library_usage(), model_id, provider_id=provider_id, genai_request_timestamp=when
    )
    return calculation.total_price


def assert_adds_up(
    pricer: Pricer, name: str, provider_id: str, model_id: str, split: Split, when: datetime
) -> None:
    _, info = data_snapshot.get_snapshot().find_provider_model(model_id, None, provider_id, None)
    price = info.get_prices(when)
    estimate = pricer.estimate(ANTHROPIC, name, split.usage(ANTHROPIC), int(when.timestamp()))
    if price.input_mtok is None or price.output_mtok is None:  # no token price then: nothing to add up
        assert estimate["total"] is None
        return
    ours, theirs = estimate["total"], library_total(split, provider_id, model_id, when)
    per_request = fee(price)
    if per_request is not None:  # left out, and said so: exactly that fee is the difference
        assert f"Not included: a fee of ${per_request} per 1,000 requests." in estimate["note"]
        theirs -= per_request / 1000
    assert close(ours, theirs), (name, split, ours, theirs)


SWEEP = (
    Split(uncached=1_234, read=0, write=0, output=567),
    Split(uncached=10_001, read=70_000, write=3_333, output=2_048),
    Split(uncached=150_000, read=120_000, write=50_000, output=9_999),  # past any 200k/272k tier
)


def test_every_model_found_by_name_adds_up_to_genai_prices(pricer: Pricer) -> None:
    models = named_models()
    with_prices = sum(
        1
        for provider in data_snapshot.get_snapshot().providers
        for info in provider.models
        if info.get_prices(WHEN).input_mtok is not None and info.get_prices(WHEN).output_mtok is not None
    )
    # Nearly all of them: the rest share an id with another provider's model, checked below by rates.
    assert len(models) > 0.9 * with_prices
    fees = 0
    for name, provider_id, model_id in models:
        for split in SWEEP:
            assert_adds_up(pricer, name, provider_id, model_id, split, WHEN)
        _, info = data_snapshot.get_snapshot().find_provider_model(model_id, None, provider_id, None)
        fees += fee(info.get_prices(WHEN)) is not None
    assert fees > 0  # the fee case above was exercised, not assumed


@BOUNDED
@given(
    data=st.data(),
    split=st.builds(
        Split,
        uncached=st.integers(0, 2_000_000),
        read=st.integers(0, 1_000_000),
        write=st.integers(0, 500_000),
        output=st.integers(0, 200_000),
    ),
    when=st.datetimes(datetime(2024, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
)
def test_any_usage_at_any_time_adds_up_to_genai_prices(
    data: st.DataObject, split: Split, when: datetime
) -> None:
    name, provider_id, model_id = data.draw(st.sampled_from(named_models()))
    when = when.replace(microsecond=0)  # created_at is whole seconds
    assert_adds_up(Pricer(), name, provider_id, model_id, split, when)


def every_price() -> list[tuple[str, str, ModelPrice]]:
    """Every (provider, model, price) of the snapshot, conditional prices each on their own."""
    found: list[tuple[str, str, ModelPrice]] = []
    for provider in data_snapshot.get_snapshot().providers:
        for info in provider.models:
            prices = [info.prices] if isinstance(info.prices, ModelPrice) else [c.prices for c in info.prices]
            found.extend((provider.id, info.id, price) for price in prices)
    return found


def test_the_arithmetic_adds_up_for_every_price_in_the_snapshot() -> None:
    """The shadowed models and past prices too: our rates of each ModelPrice against its own calc_price."""
    list_prices, checked = ListPrices(), 0
    for provider_id, model_id, price in every_price():
        try:
            rates = list_prices._convert(price, provider_id, model_id)
        except NoListPrice:
            assert price.input_mtok is None or price.output_mtok is None
            continue
        for split in SWEEP:
            tokens = billed_tokens(ANTHROPIC, split.usage(ANTHROPIC))
            theirs = price.calc_price(split.library_usage())["total_price"]
            per_request = fee(price)
            theirs -= Decimal(0) if per_request is None else per_request / 1000
            assert close(priced(tokens, rates)["total"], theirs), (provider_id, model_id, split)
        checked += 1
    assert checked > 2000


# --- The price in force when the request was made ---------------------------------------------------


def dated_price_change() -> tuple[str, date, ModelPrice, ModelPrice]:
    """A model found by name whose input rate changed on a start date: (name, date, before, after)."""
    names = {(provider_id, model_id): name for name, provider_id, model_id in named_models()}
    whole = 300_000  # past the tiers, so a change of tiered prices shows too
    for provider in data_snapshot.get_snapshot().providers:
        for info in provider.models:
            name = names.get((provider.id, info.id))
            if name is None or isinstance(info.prices, ModelPrice):
                continue
            if not all(isinstance(c.constraint, StartDateConstraint | None) for c in info.prices):
                continue  # a time-of-day price would blur the comparison
            for conditional in info.prices:
                if not isinstance(conditional.constraint, StartDateConstraint):
                    continue
                day = conditional.constraint.start_date
                before = info.get_prices(datetime.combine(day - timedelta(days=1), time(12), UTC))
                after = info.get_prices(datetime.combine(day, time(12), UTC))
                if None not in (before.input_mtok, after.input_mtok) and rate_at(
                    before.input_mtok, whole
                ) != rate_at(after.input_mtok, whole):
                    return name, day, before, after
    raise AssertionError("no model in the snapshot changed its input price on a start date")


def test_the_price_in_force_at_the_request_time_is_used(pricer: Pricer) -> None:
    name, day, before, after = dated_price_change()
    split = Split(uncached=200_000, read=60_000, write=40_000, output=1_000)
    on_the_eve = int(datetime.combine(day - timedelta(days=1), time(12), UTC).timestamp())
    on_the_day = int(datetime.combine(day, time(12), UTC).timestamp())
    old = pricer.estimate(ANTHROPIC, name, split.usage(ANTHROPIC), on_the_eve)
    new = pricer.estimate(ANTHROPIC, name, split.usage(ANTHROPIC), on_the_day)
    assert_amounts(old, expected_parts(before, split))
    assert_amounts(new, expected_parts(after, split))
    assert old["rates_per_mtok"]["input"] == float(expected_rates(before, split.whole_input)["input"])
    assert new["rates_per_mtok"]["input"] == float(expected_rates(after, split.whole_input)["input"])
    assert old["rates_per_mtok"]["input"] != new["rates_per_mtok"]["input"]


def test_a_request_time_in_milliseconds_or_iso_8601_picks_the_same_price(pricer: Pricer) -> None:
    name, day, before, after = dated_price_change()
    split = Split(uncached=200_000, read=60_000, write=40_000, output=1_000)
    eve = datetime.combine(day - timedelta(days=1), time(12), UTC)
    for when in (int(eve.timestamp() * 1000), eve.isoformat(), eve.strftime("%Y-%m-%dT%H:%M:%SZ")):
        assert_amounts(
            pricer.estimate(ANTHROPIC, name, split.usage(ANTHROPIC), when), expected_parts(before, split)
        )
    assert_amounts(
        pricer.estimate(ANTHROPIC, name, split.usage(ANTHROPIC), day.isoformat()),
        expected_parts(after, split),
    )


# --- What can't be priced says why, and the call still succeeds --------------------------------------


def test_an_unknown_model_has_no_amounts_and_a_note_that_says_how_to_add_a_price(pricer: Pricer) -> None:
    estimate = pricer.estimate(ANTHROPIC, "foo-1", MIXED.usage(ANTHROPIC), CREATED_AT)
    assert_unpriced(estimate)
    assert "'foo-1'" in estimate["note"] and "KUSHROUTER_MCP_PRICES" in estimate["note"]
    assert '[models."foo-1"]' in estimate["note"]
    assert estimate["provider"] is None


def test_a_provider_prefix_still_finds_the_model(pricer: Pricer) -> None:
    _, info = snapshot_model("claude-sonnet-4-5")
    estimate = pricer.estimate(ANTHROPIC, "anthropic/claude-sonnet-4-5", MIXED.usage(ANTHROPIC), CREATED_AT)
    assert (estimate["provider"], estimate["model_priced"]) == ("anthropic", "claude-sonnet-4-5")
    assert_amounts(estimate, expected_parts(info.get_prices(WHEN), MIXED))


@pytest.mark.parametrize(
    ("endpoint", "usage", "said"),
    [
        (ANTHROPIC, None, "no usage reported"),
        (ANTHROPIC, {}, "no usage reported"),
        (ANTHROPIC, {"prompt_tokens": 100}, "no completion_tokens count"),
        (ANTHROPIC, {"prompt_tokens": 100, "completion_tokens": "7"}, "no completion_tokens count"),
        (ANTHROPIC, {"completion_tokens": 7}, "no prompt_tokens count"),
        (
            "openai.chat.completions",
            {"prompt_tokens": 100, "completion_tokens": 7, "cache_read_input_tokens": 101},
            "cache_read_input_tokens (101) exceeds prompt_tokens (100)",
        ),
        (
            "google.generate",
            {"prompt_tokens": 100, "completion_tokens": 7, "cache_read_input_tokens": 50},
            "endpoint 'google.generate' has no known token semantics",
        ),
        (
            None,
            {"prompt_tokens": 100, "completion_tokens": 7, "cache_creation_input_tokens": 50},
            "endpoint None has no known token semantics",
        ),
    ],
)
def test_usage_that_cant_be_split_honestly_is_not_priced(
    pricer: Pricer, endpoint: str | None, usage: dict[str, object] | None, said: str
) -> None:
    estimate = pricer.estimate(endpoint, "gpt-4o", usage, CREATED_AT)
    assert_unpriced(estimate)
    assert estimate["note"].startswith("Not priced: ") and said in estimate["note"]


@pytest.mark.parametrize("endpoint", ["google.generate", None])
def test_an_unknown_endpoint_without_cache_tokens_is_priced(pricer: Pricer, endpoint: str | None) -> None:
    _, info = snapshot_model("gpt-4o")
    usage = {"prompt_tokens": 2_000, "completion_tokens": 150, "cache_read_input_tokens": 0}
    estimate = pricer.estimate(endpoint, "gpt-4o", usage, CREATED_AT)
    assert_amounts(estimate, expected_parts(info.get_prices(WHEN), Split(2_000, 0, 0, 150)))
    assert estimate["note"] is None


def test_a_record_without_a_model_is_not_priced(pricer: Pricer) -> None:
    estimate = pricer.with_estimate({"endpoint": ANTHROPIC, "model": None, "usage": MIXED.usage(ANTHROPIC)})
    assert_unpriced(estimate[ESTIMATE_KEY])
    assert "names no model" in estimate[ESTIMATE_KEY]["note"]


# --- Beside the API's fields, never in place of one ---------------------------------------------------


def record(**extra: object) -> dict[str, Any]:
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "endpoint": ANTHROPIC,
        "model": "claude-3-5-haiku-latest",
        "created_at": CREATED_AT,
        "usage": MIXED.usage(ANTHROPIC),
        **extra,
    }


def test_the_estimate_goes_beside_the_apis_fields_of_a_copy(pricer: Pricer) -> None:
    original = record()
    untouched = copy.deepcopy(original)
    priced_record = pricer.with_estimate(original)

    assert original == untouched and ESTIMATE_KEY not in original
    assert priced_record is not original
    assert {key: value for key, value in priced_record.items() if key != ESTIMATE_KEY} == untouched
    assert priced_record["usage"] == untouched["usage"]  # nothing added inside usage
    _, info = snapshot_model("claude-3-5-haiku-latest")
    assert_amounts(priced_record[ESTIMATE_KEY], expected_parts(info.get_prices(WHEN), MIXED))
    assert FALLBACK_ESTIMATE_KEY not in priced_record


def test_an_upstream_estimated_cost_is_kept_and_ours_goes_beside_it(pricer: Pricer) -> None:
    theirs = {"usd": 0.5, "by": "upstream"}
    original = record(estimated_cost=theirs)
    priced_record = pricer.with_estimate(original)
    assert priced_record[ESTIMATE_KEY] == {"usd": 0.5, "by": "upstream"}
    assert priced_record[FALLBACK_ESTIMATE_KEY]["provider"] == "anthropic"
    assert priced_record[FALLBACK_ESTIMATE_KEY]["total"] is not None
    assert FALLBACK_ESTIMATE_KEY not in original


def test_the_request_time_of_the_record_picks_the_price(pricer: Pricer) -> None:
    name, day, before, _ = dated_price_change()
    eve = int(datetime.combine(day - timedelta(days=1), time(12), UTC).timestamp())
    split = Split(uncached=250_000, read=0, write=0, output=10)
    estimate = pricer.with_estimate({"model": name, "created_at": eve, "usage": split.usage(ANTHROPIC)})
    assert_amounts(estimate[ESTIMATE_KEY], expected_parts(before, split))


# --- genai-prices loads only when an estimate needs it --------------------------------------------------


def test_list_prices_load_on_the_first_estimate_that_needs_them() -> None:
    fresh = Pricer()
    assert not fresh.loaded
    fresh.estimate(ANTHROPIC, "gpt-4o", None)  # no usage: nothing to look up
    assert not fresh.loaded
    fresh.estimate(ANTHROPIC, "gpt-4o", MIXED.usage(ANTHROPIC))
    assert fresh.loaded


def test_a_model_priced_from_the_prices_file_loads_no_list_prices() -> None:
    own = Pricer(prices_file('[models."gpt-4o*"]\ninput = 1.0\noutput = 2.0\n'))
    estimate = own.estimate(ANTHROPIC, "gpt-4o-2024-08-06", MIXED.usage(ANTHROPIC))
    assert estimate["total"] is not None and not own.loaded
    own.estimate(ANTHROPIC, "gpt-5-mini", MIXED.usage(ANTHROPIC))  # not in the file: list prices
    assert own.loaded


PROBE = """
import json, sys
from kushrouter_mcp.pricing import Pricer
from kushrouter_mcp.settings.prices_file import parse_prices
pricer = Pricer(parse_prices('[models."house-*"]\\ninput = 1.0\\noutput = 2.0\\n', True, "f", "f.toml"))
usage = {"prompt_tokens": 1000, "completion_tokens": 10}
estimate = pricer.estimate("anthropic.messages", sys.argv[1], usage)
print(json.dumps({"total": estimate["total"], "loaded": "genai_prices" in sys.modules}))
"""


@pytest.mark.parametrize(("model", "loads"), [("house-model", False), ("gpt-4o", True)])
def test_genai_prices_is_not_imported_for_a_prices_file_estimate(model: str, loads: bool) -> None:
    """In a fresh interpreter: the import is paid only when list prices are needed (the second case
    shows the probe sees it when it is)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, model],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(SERVER), "PATH": ""},
        timeout=60,
    )
    outcome = json.loads(done.stdout)
    assert outcome["total"] is not None
    assert outcome["loaded"] is loads


def test_list_prices_that_cannot_load_leave_estimates_unpriced_and_are_tried_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "genai_prices", None)  # `import genai_prices` now fails
    own = prices_file('[models."house-*"]\ninput = 1.0\noutput = 2.0\n')
    broken = Pricer(own)
    estimate = broken.estimate(ANTHROPIC, "claude-sonnet-4-5", MIXED.usage(ANTHROPIC), CREATED_AT)
    assert_unpriced(estimate)
    assert "genai-prices could not be loaded (ModuleNotFoundError" in estimate["note"]
    assert "KUSHROUTER_MCP_PRICES" in estimate["note"] and estimate["source"] is None
    assert broken.loaded and broken.load() is None, "tried once: nothing left to load"
    house = broken.estimate(ANTHROPIC, "house-1", MIXED.usage(ANTHROPIC), CREATED_AT)
    assert house["total"] is not None and house["source"] == "prices file prices.toml"
