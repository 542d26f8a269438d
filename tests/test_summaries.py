"""The text half of the batch result: the lines an agent reads before the structured part."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from kushrouter_mcp.face.app import create_server
from kushrouter_mcp.face.summaries import summarize_batch, summarize_record
from kushrouter_mcp.pricing import Pricer
from kushrouter_mcp.records.totals import usd
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import (
    ALICE_KEY,
    ANTHROPIC_ID,
    CHAT_ID,
    SEED_RECORDS,
    UNPRICED_ID,
    UNPRICED_MODEL,
)
from kushrouter_mcp.settings.config import Settings
from kushrouter_mcp.settings.keys import ApiKey
from kushrouter_mcp.upstream.batch import batch_result

pytestmark = pytest.mark.anyio


def not_found(gen_id: str, waited: float | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": gen_id, "error": {"kind": "not_found", "message": f"{gen_id} not found."}}
    if waited is not None:
        item["waited_seconds"] = waited
    return item


def found(gen_id: str, waited: float | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": gen_id, "generation": SEED_RECORDS[CHAT_ID] | {"id": gen_id}}
    if waited is not None:
        item["waited_seconds"] = waited
    return item


def test_twenty_problems_are_listed_and_the_rest_counted() -> None:
    listed = summarize_batch(batch_result([not_found(f"chatcmpl-{n}") for n in range(20)]), 0).splitlines()
    assert sum(line.startswith("chatcmpl-") for line in listed) == 20
    assert not any("more (see results)" in line for line in listed)
    text = summarize_batch(batch_result([not_found(f"chatcmpl-{n}") for n in range(27)]), 0)
    assert "chatcmpl-19: not_found" in text and "chatcmpl-20:" not in text
    assert text.splitlines()[-1] == "… and 7 more (see results)."


def test_the_longest_wait_of_a_found_record_is_told() -> None:
    results = [found("chatcmpl-a", 0.0), found("chatcmpl-b", 1.84), found("chatcmpl-c", 0.6)]
    text = summarize_batch(batch_result(results), 5)
    assert "Waited up to 1.8 s for a record to appear." in text
    assert "polled for up to" not in text, "every id was found"
    assert "Waited up to" not in summarize_batch(batch_result([found("chatcmpl-a", 0.0)]), 5)


def test_ids_never_found_say_how_long_they_were_polled() -> None:
    text = summarize_batch(batch_result([found("chatcmpl-a", 0.0), not_found("chatcmpl-b", 3.0)]), 3)
    assert "Ids not found were polled for up to 3 s" in text
    assert "Ids not found were polled" not in summarize_batch(batch_result([not_found("chatcmpl-b")]), 0)


async def test_a_long_batch_of_bad_ids_is_summarised_through_the_tool(sandbox: RunningSandbox) -> None:
    settings = Settings(api_key=ApiKey(ALICE_KEY), base_url=sandbox.base_url)
    async with Client(create_server(settings)) as client:
        result = await client.call_tool("get_generations", {"ids": [f"bad id {n}" for n in range(23)]})
    text = "\n".join(block.text for block in result.content)
    assert text.startswith("Looked up 23 distinct ids: 0 found, 0 not found, 23 failed.")
    assert text.endswith("… and 3 more (see results).")
    assert sandbox.state.requests == []


# --- Cost lines ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (0.0, "$0"),
        (0.00072026, "$0.0007203"),
        (0.0151554, "$0.01516"),
        (0.5, "$0.5000"),
        (3.14159, "$3.142"),
        (1234.5678, "$1,234.57"),
        (2.5e-8, "$0.00000002500"),
    ],
)
def test_amounts_show_four_significant_digits_and_never_an_exponent(amount: float, shown: str) -> None:
    assert usd(amount) == shown


def test_a_record_summary_gives_the_amount_with_its_basis_and_an_unpriced_one_none() -> None:
    pricer = Pricer()
    priced = pricer.with_estimate(SEED_RECORDS[ANTHROPIC_ID])
    line = next(line for line in summarize_record(priced).splitlines() if line.startswith("Estimated cost"))
    total = priced["estimated_cost"]["total"]
    assert f"≈ {usd(total)} at list price, genai-prices " in line, line
    assert "cache read" in line and "cache write" in line
    unpriced = pricer.with_estimate(SEED_RECORDS[UNPRICED_ID])
    text = summarize_record(unpriced)
    assert "Estimated cost: not priced." in text and UNPRICED_MODEL in text and "$" not in text


def test_a_batch_with_an_unpriced_record_says_its_sum_is_partial_and_names_it() -> None:
    pricer = Pricer()
    items = [
        {"id": gen_id, "generation": pricer.with_estimate(SEED_RECORDS[gen_id])}
        for gen_id in (CHAT_ID, ANTHROPIC_ID, UNPRICED_ID)
    ]
    text = summarize_batch(batch_result(items), 0)
    priced = sum(item["generation"]["estimated_cost"]["total"] for item in items[:2])
    assert f"Estimated cost: ≈ {usd(priced)} at list price" in text, text
    assert "1 of the 3 not priced, so this is a partial sum" in text
    assert f"Not priced: {UNPRICED_ID} ({UNPRICED_MODEL})" in text


def test_a_batch_without_estimates_prints_no_cost_line() -> None:
    text = summarize_batch(batch_result([found(CHAT_ID)]), 0)
    assert "Estimated cost" not in text and "$" not in text
