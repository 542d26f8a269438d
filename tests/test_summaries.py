"""The text half of the batch result: the lines an agent reads before the structured part."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from kushrouter_mcp.face.app import create_server
from kushrouter_mcp.face.summaries import summarize_batch
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, CHAT_ID, SEED_RECORDS
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
