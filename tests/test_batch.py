"""get_generations: a batch's outcomes and totals, wait_seconds, the shared 429 back-off, its arguments.

The headline cases run the real server process over stdio against the sandbox over TCP.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from conftest import LEAK_CANARY, server_env, stdio_server
from kushrouter_mcp.face.app import create_server
from kushrouter_mcp.records.models import USAGE_FIELDS
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import (
    ALICE_KEY,
    ANTHROPIC_ID,
    BOB_ONLY_ID,
    CHAT_ID,
    EXTRA_FIELDS_ID,
    KEY_OWNERS,
    RESPONSES_ID,
    SEED_RECORDS,
)
from kushrouter_mcp.settings.config import ConfigError, Settings
from kushrouter_mcp.settings.keys import ApiKey
from priced import api_fields

pytestmark = pytest.mark.anyio


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


def summed(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Tokens and estimated cost of these answered records, summed here; a null total counts unpriced."""
    totals: dict[str, Any] = {"generations": len(records)} | dict.fromkeys(USAGE_FIELDS, 0)
    for rec in records:
        for name in USAGE_FIELDS:
            totals[name] += rec["usage"][name]
    priced = [rec["estimated_cost"]["total"] for rec in records if rec["estimated_cost"]["total"] is not None]
    totals["estimated_cost_usd"] = round(math.fsum(priced), 12) if priced else None
    totals["unpriced"] = len(records) - len(priced)
    return totals


@pytest.fixture
async def client(sandbox: RunningSandbox) -> AsyncIterator[Client]:
    settings = Settings(api_key=ApiKey(ALICE_KEY), base_url=sandbox.base_url)
    async with Client(create_server(settings)) as connected:
        yield connected


# --- Headline: the real server over stdio ----------------------------------------------------------


async def test_a_batch_mixes_found_missing_and_failing_ids(sandbox: RunningSandbox, tmp_path: Path) -> None:
    found = [CHAT_ID, ANTHROPIC_ID, RESPONSES_ID, EXTRA_FIELDS_ID]
    ids = [CHAT_ID, "chatcmpl-missing-1", ANTHROPIC_ID, "bad id", CHAT_ID, "sandbox-status-403",
           RESPONSES_ID, BOB_ONLY_ID, "sandbox-status-400", EXTRA_FIELDS_ID, 42]  # fmt: skip
    progress: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    with (tmp_path / "stderr.log").open("w") as errlog:
        async with stdio_server(sandbox, errlog) as client:
            result = await client.call_tool("get_generations", {"ids": ids}, progress_callback=on_progress)
    assert not result.is_error
    batch = result.structured_content
    distinct = [CHAT_ID, "chatcmpl-missing-1", ANTHROPIC_ID, "bad id", "sandbox-status-403", RESPONSES_ID,
                BOB_ONLY_ID, "sandbox-status-400", EXTRA_FIELDS_ID, "42"]  # fmt: skip
    assert [item["id"] for item in batch["results"]] == distinct, "duplicates collapsed, order kept"
    outcome = {item["id"]: item.get("error", {}).get("kind", "found") for item in batch["results"]}
    assert outcome == {
        CHAT_ID: "found", ANTHROPIC_ID: "found", RESPONSES_ID: "found", EXTRA_FIELDS_ID: "found",
        "chatcmpl-missing-1": "not_found", BOB_ONLY_ID: "not_found",  # bob's record: alice gets a 404
        "bad id": "invalid_id", "42": "invalid_id", "sandbox-status-403": "forbidden",
        "sandbox-status-400": "rejected",
    }  # fmt: skip
    for item in batch["results"]:
        if item["id"] in found:
            assert api_fields(item["generation"]) == SEED_RECORDS[item["id"]], (
                "the record exactly as the API has it"
            )
            assert "waited_seconds" not in item
        else:
            assert item["error"]["message"] and "generation" not in item
            if item["error"]["kind"] == "invalid_id":  # the words get_generation uses too
                assert item["error"]["message"].startswith("Invalid generation id: The id ")
    assert batch["counts"] == {"ids": 10, "found": 4, "not_found": 2, "failed": 4}
    records = [item["generation"] for item in batch["results"] if item["id"] in found]
    assert batch["totals"]["overall"] == summed(records)
    by_model = {
        model: summed([r for r in records if r["model"] == model]) for model in {r["model"] for r in records}
    }
    assert batch["totals"]["by_model"] == by_model
    endpoints = {r["endpoint"] for r in records}
    assert batch["totals"]["by_endpoint"] == {
        e: summed([r for r in records if r["endpoint"] == e]) for e in endpoints
    }
    summary = text_of(result)
    assert "4 found, 2 not found, 4 failed" in summary and "sandbox-status-403: forbidden" in summary
    assert sorted(r.query[0][1] for r in sandbox.state.requests) == sorted(
        set(distinct) - {"bad id", "42"}
    ), "each valid id sent once; invalid ones never"
    assert progress and progress[-1] == (10, 10)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)


async def test_progress_arrives_over_streamable_http(
    sandbox: RunningSandbox, http_server_factory: Any
) -> None:
    url, _ = http_server_factory(server_env(sandbox.base_url))
    progress: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    async with Client(url) as client:
        result = await client.call_tool(
            "get_generations",
            {"ids": [CHAT_ID, ANTHROPIC_ID, "chatcmpl-none-1"]},
            progress_callback=on_progress,
        )
    assert result.structured_content["counts"] == {"ids": 3, "found": 2, "not_found": 1, "failed": 0}
    assert progress == [(1, 3), (2, 3), (3, 3)]


async def test_a_429_storm_is_waited_out_with_one_probe_per_window(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    ids = [f"chatcmpl-storm-{n}" for n in range(20)]
    for gen_id in ids:
        sandbox.state.publish(gen_id)
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with stdio_server(sandbox, errlog, KUSHROUTER_MAX_RETRIES="6") as client:
            await client.call_tool(
                "get_generation", {"id": CHAT_ID}
            )  # warm: the storm meets a running server
            sandbox.state.start_storm(2.5, retry_after="1")
            started = time.monotonic()
            result = await client.call_tool("get_generations", {"ids": ids})
            elapsed = time.monotonic() - started
    assert not result.is_error
    assert result.structured_content["counts"] == {"ids": 20, "found": 20, "not_found": 0, "failed": 0}
    hits = sandbox.state.storm_hits
    burst = [t for t in hits if t - hits[0] < 0.5]  # sent before the first 429 came back
    probes = hits[len(burst) :]
    assert 1 <= len(burst) <= 8, "at most the batch's concurrency meets the storm at first"
    assert 1 <= len(probes) <= 3, "then one request per 1 s window of a 2.5 s storm"
    gaps = [later - earlier for earlier, later in zip([hits[0], *probes], probes, strict=False)]
    assert all(gap >= 0.9 for gap in gaps), f"probes must be a window apart, got {gaps}"
    assert sandbox.state.request_count == 1 + len(hits) + 20
    assert 2.4 <= elapsed < 15


async def test_a_record_that_appears_after_2_s_is_found_with_wait_seconds(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    outcomes: dict[str, Any] = {}
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with stdio_server(sandbox, errlog) as client:
            fresh = sandbox.state.publish("chatcmpl-fresh-1", after_seconds=2.0)
            late = sandbox.state.publish("chatcmpl-fresh-2", after_seconds=2.0)
            impatient = await client.call_tool("get_generation", {"id": "chatcmpl-fresh-1"})

            async def call(name: str, arguments: dict[str, Any]) -> None:
                outcomes[name] = await client.call_tool(name, arguments)

            async with anyio.create_task_group() as both:  # the single lookup and the batch wait side by side
                both.start_soon(call, "get_generation", {"id": "chatcmpl-fresh-1", "wait_seconds": 10})
                ids = ["chatcmpl-fresh-2", "chatcmpl-never-1"]
                both.start_soon(call, "get_generations", {"ids": ids, "wait_seconds": 3})
    patient, batch = outcomes["get_generation"], outcomes["get_generations"]
    assert impatient.is_error and "404" in text_of(impatient)
    assert not patient.is_error
    assert api_fields(patient.structured_content) == fresh, "no server field but the estimate added"
    assert text_of(patient).startswith(("Waited 1.", "Waited 2.")), text_of(patient)
    found, never = batch.structured_content["results"]
    assert api_fields(found["generation"]) == late and 1.5 <= found["waited_seconds"] <= 4
    assert never["error"]["kind"] == "not_found" and never["waited_seconds"] >= 2.9
    assert "Waited 3." in never["error"]["message"]
    polls = [r for r in sandbox.state.requests if r.query == [("id", "chatcmpl-never-1")]]
    assert 4 <= len(polls) <= 8, "polled at a growing interval, not hammered"


async def test_a_batch_waits_one_window_however_many_ids(sandbox: RunningSandbox, tmp_path: Path) -> None:
    """40 ids, wait_seconds 3: the call ends within its 3 s budget plus the 3 s wait, not per wave of 8."""
    late = [f"chatcmpl-late-{n}" for n in range(5)]
    ids = [f"chatcmpl-never-{n}" for n in range(35)] + late
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with stdio_server(sandbox, errlog, KUSHROUTER_TIMEOUT="3") as client:
            await client.call_tool("get_generation", {"id": CHAT_ID})  # warm: imports, first connection
            for n, gen_id in enumerate(late):  # records written 1 to 2 s after the call starts
                sandbox.state.publish(gen_id, after_seconds=1.0 + n * 0.25)
            started = time.monotonic()
            result = await client.call_tool("get_generations", {"ids": ids, "wait_seconds": 3})
            elapsed = time.monotonic() - started
    assert 2.9 <= elapsed < 3 + 3, f"took {elapsed:.1f} s"
    batch = result.structured_content
    assert batch["counts"] == {"ids": 40, "found": 5, "not_found": 35, "failed": 0}
    for item in batch["results"][35:]:
        assert 0.5 <= item["waited_seconds"] <= 2.9, item  # from its first poll, which may queue
    for item in batch["results"][:35]:
        assert item["error"]["kind"] == "not_found" and item["waited_seconds"] >= 2.5, item
    polls = [r for r in sandbox.state.requests if r.query == [("id", "chatcmpl-never-0")]]
    assert 4 <= len(polls) <= 8, "every id polled through the window at a growing interval"
    assert "Waited up to" in text_of(result) and "Ids not found were polled for up to 3 s" in text_of(result)


async def test_batch_errors_never_show_the_key(
    sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(KEY_OWNERS, LEAK_CANARY, "alice")
    sandbox.state.add_fault(400, body=f'{{"error": "bad key {LEAK_CANARY}"}}'.encode())
    ids = [CHAT_ID, "sandbox-status-401", "sandbox-status-500", "sandbox-html", "bad id", "chatcmpl-gone-1"]
    stderr = tmp_path / "stderr.log"
    with stderr.open("w") as errlog:
        async with stdio_server(
            sandbox, errlog, api_key=LEAK_CANARY, KUSHROUTER_MCP_LOG_LEVEL="DEBUG", KUSHROUTER_MAX_RETRIES="1"
        ) as client:
            result = await client.call_tool("get_generations", {"ids": ids, "wait_seconds": 0.3})
    assert not result.is_error and result.structured_content["counts"]["ids"] == 6
    for text in (result.model_dump_json(), stderr.read_text()):
        assert LEAK_CANARY not in text and LEAK_CANARY[8:] not in text


# --- Arguments and schema (in-memory client on the same server) ------------------------------------


async def test_get_generations_is_listed_with_schemas_and_annotations(client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    batch, single = tools["get_generations"], tools["get_generation"]
    ids = batch.input_schema["properties"]["ids"]
    assert (ids["type"], ids["minItems"], ids["maxItems"], ids["items"]) == (
        "array",
        1,
        500,
        {"type": "string"},
    )
    assert batch.input_schema["required"] == ["ids"]
    for tool in (batch, single):
        wait = tool.input_schema["properties"]["wait_seconds"]
        assert (wait["type"], wait["minimum"], wait["maximum"], wait["default"]) == ("number", 0, 60, 0)
    assert {"results", "counts", "totals"} <= set(batch.output_schema["properties"])
    assert batch.annotations.read_only_hint and batch.annotations.idempotent_hint
    assert batch.annotations.open_world_hint is True
    assert batch.title and len(batch.description) > 200


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"ids": []}, "1 to 500"),
        ({"ids": ["chatcmpl-x"] * 501}, "501 ids"),
        ({"ids": CHAT_ID}, "must be a list"),
        ({"ids": [CHAT_ID], "wait_seconds": 61}, "0 to 60"),
        ({"ids": [CHAT_ID], "wait_seconds": -1}, "0 to 60"),
        ({"ids": [CHAT_ID], "wait_seconds": "soon"}, "number of seconds"),
    ],
)
async def test_bad_arguments_are_explained_and_nothing_is_sent(
    client: Client, sandbox: RunningSandbox, arguments: dict[str, Any], words: str
) -> None:
    result = await client.call_tool("get_generations", arguments)
    assert result.is_error and words in text_of(result)
    single = await client.call_tool(
        "get_generation", {"id": CHAT_ID, "wait_seconds": arguments.get("wait_seconds", 99)}
    )
    assert single.is_error and "wait_seconds" in text_of(single)
    assert sandbox.state.request_count == 0


async def test_without_a_key_the_batch_is_one_clear_error(sandbox: RunningSandbox) -> None:
    async with Client(create_server(Settings(base_url=sandbox.base_url))) as keyless:
        result = await keyless.call_tool("get_generations", {"ids": [CHAT_ID, ANTHROPIC_ID]})
    assert result.is_error and "KUSHROUTER_API_KEY" in text_of(result)
    assert sandbox.state.request_count == 0


async def test_a_quoted_id_is_the_same_id_and_an_unmatched_quote_is_invalid(
    client: Client, sandbox: RunningSandbox
) -> None:
    ids = [f'"{CHAT_ID}"', CHAT_ID, f"`{ANTHROPIC_ID}`", f"'{CHAT_ID}", f"'{CHAT_ID}"]
    result = await client.call_tool("get_generations", {"ids": ids})
    outcome = [
        (item["id"], item.get("error", {}).get("kind", "found"))
        for item in result.structured_content["results"]
    ]
    assert outcome == [(CHAT_ID, "found"), (ANTHROPIC_ID, "found"), (f"'{CHAT_ID}", "invalid_id")]
    assert "quote" in result.structured_content["results"][2]["error"]["message"]
    assert sorted(request.query[0][1] for request in sandbox.state.requests) == sorted(
        [CHAT_ID, ANTHROPIC_ID]
    )


async def test_a_rejected_key_stops_the_batch_from_sending_the_rest(sandbox: RunningSandbox) -> None:
    settings = Settings(
        api_key=ApiKey("kr_live_not_a_real_key_123"), base_url=sandbox.base_url, batch_concurrency=2
    )
    ids = [f"chatcmpl-any-{n}" for n in range(30)]
    async with Client(create_server(settings)) as client:
        result = await client.call_tool("get_generations", {"ids": ids})
    kinds = {item["error"]["kind"] for item in result.structured_content["results"]}
    assert kinds == {"unauthorized"}
    assert result.structured_content["counts"]["failed"] == 30
    assert sandbox.state.request_count <= 4, "after the first 401 the other ids are not sent"


def test_batch_concurrency_comes_from_the_environment() -> None:
    assert Settings.from_env({"KUSHROUTER_MCP_BATCH_CONCURRENCY": "16"}).batch_concurrency == 16
    assert Settings.from_env({}).batch_concurrency == 8
    with pytest.raises(ConfigError, match="KUSHROUTER_MCP_BATCH_CONCURRENCY"):
        Settings.from_env({"KUSHROUTER_MCP_BATCH_CONCURRENCY": "0"})
