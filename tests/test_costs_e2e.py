"""Cost estimates end to end: the SDK's client, the real server process (stdio, HTTP), the sandbox over TCP.

Every expected amount is computed here (costs_helpers) from the per-token prices of genai-prices'
snapshot or of a prices file written here, under the endpoint's token semantics; none is copied
from the server's output. One stdio server serves the tests that need the default settings.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp import Client
from mcp.types import ReadResourceResult, TextResourceContents

from conftest import server_env, stdio_server
from costs_helpers import (
    BUNDLED,
    CLOSE,
    Prices,
    amounts,
    assert_estimate,
    assert_unpriced,
    list_prices,
    record_prices,
    text_of,
    whole_input,
)
from http_helpers import bearer_client
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import (
    ALICE_KEY,
    ANTHROPIC_ID,
    API_KEY_IDS,
    CHAT_ID,
    RESPONSES_ID,
    SAMPLE_PAYLOADS,
    SEED_RECORDS,
    UNPRICED_ID,
    UNPRICED_MODEL,
)
from priced import api_fields

pytestmark = pytest.mark.anyio

ALICE_IDS = [gen_id for gen_id, record in SEED_RECORDS.items() if record["apiKeyId"] == API_KEY_IDS["alice"]]
PRICED_IDS = [gen_id for gen_id in ALICE_IDS if gen_id != UNPRICED_ID]
MISSING_ID = "chatcmpl-not-there-7"
DOLLAR_AMOUNT = re.compile(r"\$\s*\d")

# What each sample payload reported, read off the payloads in sandbox/samples.py: (model, prompt,
# completion, cache read, cache write), in the record's field names.
PAYLOAD_USAGE = {
    "openai.chat.completions": ("gpt-5-mini-2025-08-07", 121, 345, 0, 0),
    "openai.responses": ("gpt-5-2025-08-07", 1840, 512, 1024, 0),
    "anthropic.messages": ("claude-sonnet-4-5-20250929", 412, 503, 2048, 1536),
}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # module-wide, so one server process can serve the whole module


@pytest.fixture(scope="module")
async def client(
    sandbox_session: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Client]:
    """One stdio server with the default settings (list prices), shared by the tests that only read."""
    with (tmp_path_factory.mktemp("costs") / "stderr.log").open("w") as errlog:
        async with stdio_server(sandbox_session, errlog) as connected:
            yield connected


@pytest.fixture(scope="module")
async def output_schemas(client: Client) -> dict[str, dict[str, Any]]:
    """Each tool's published outputSchema, as the client listed it."""
    schemas = {tool.name: tool.output_schema for tool in (await client.list_tools()).tools}
    return {name: schema for name, schema in schemas.items() if schema is not None}


def resource_record(read: ReadResourceResult) -> Any:
    (contents,) = read.contents
    assert isinstance(contents, TextResourceContents) and contents.mime_type == "application/json"
    return json.loads(contents.text)


def assert_valid(instance: dict[str, Any], schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(schema).validate(instance)


# --- 1, 2, 6: records over stdio ------------------------------------------------------------------


@pytest.mark.parametrize("gen_id", PRICED_IDS)
async def test_each_seed_record_carries_its_estimate_beside_the_apis_fields(
    client: Client, output_schemas: dict[str, dict[str, Any]], gen_id: str
) -> None:
    result = await client.call_tool("get_generation", {"id": gen_id})
    assert not result.is_error, text_of(result)
    record, api = result.structured_content, SEED_RECORDS[gen_id]
    assert api_fields(record) == api, "every API field unchanged, none added but the estimate"
    assert record["usage"] == api["usage"] and not {"estimated_cost", "cost"} & set(record["usage"])
    estimate = record["estimated_cost"]
    assert_estimate(estimate, api["endpoint"], api["usage"], record_prices(api))
    assert estimate["total"] > 0
    assert_valid(record, output_schemas["get_generation"])
    text = text_of(result)
    assert "≈ $" in text and "at list price" in text and BUNDLED in text, text


async def test_the_published_schema_constrains_the_estimate(
    client: Client, output_schemas: dict[str, dict[str, Any]]
) -> None:
    """The schema check above could pass by constraining nothing: a malformed estimate fails it."""
    record = (await client.call_tool("get_generation", {"id": CHAT_ID})).structured_content
    for name, bad in [("total", "0.01"), ("currency", "EUR"), ("input", [1])]:
        broken = copy.deepcopy(record)
        broken["estimated_cost"][name] = bad
        with pytest.raises(jsonschema.ValidationError):
            assert_valid(broken, output_schemas["get_generation"])
    del broken["estimated_cost"]["total"]
    with pytest.raises(jsonschema.ValidationError):
        assert_valid(broken, output_schemas["get_generation"])


async def test_an_unpriced_record_succeeds_with_a_note_and_no_amount(
    client: Client, output_schemas: dict[str, dict[str, Any]]
) -> None:
    result = await client.call_tool("get_generation", {"id": UNPRICED_ID})
    assert not result.is_error, text_of(result)
    record = result.structured_content
    assert api_fields(record) == SEED_RECORDS[UNPRICED_ID]
    assert_unpriced(record["estimated_cost"], UNPRICED_MODEL)
    assert_valid(record, output_schemas["get_generation"])
    text = text_of(result)
    assert "Estimated cost: not priced." in text and UNPRICED_MODEL in text, text
    assert "$" not in text, text


async def test_the_resource_returns_the_record_with_its_estimate(client: Client) -> None:
    read = await client.read_resource(f"kushrouter://generations/{ANTHROPIC_ID}")
    record = resource_record(read)
    api = SEED_RECORDS[ANTHROPIC_ID]
    assert api_fields(record) == api
    assert_estimate(record["estimated_cost"], api["endpoint"], api["usage"], record_prices(api))


# --- 3: the cache ---------------------------------------------------------------------------------


async def test_a_cache_hit_carries_the_same_estimate(client: Client, sandbox: RunningSandbox) -> None:
    gen_id = f"chatcmpl-costs-{uuid.uuid4().hex[:12]}"  # new to this server: the first lookup is a miss
    api = sandbox.state.publish(gen_id)
    first = await client.call_tool("get_generation", {"id": gen_id})
    second = await client.call_tool("get_generation", {"id": gen_id})
    assert [r.query for r in sandbox.state.requests] == [[("id", gen_id)]], "the second answer is the cache's"
    assert text_of(first).startswith("Generation ") and text_of(second).startswith("From this server's cache")
    assert second.structured_content == first.structured_content
    assert api_fields(first.structured_content) == api
    assert_estimate(
        first.structured_content["estimated_cost"], api["endpoint"], api["usage"], record_prices(api)
    )
    assert "≈ $" in text_of(second)


# --- 4: a batch -----------------------------------------------------------------------------------


def expected_groups(records: list[dict[str, Any]], key: str | None) -> dict[str, tuple[Decimal, int]]:
    """(sum of the priced totals, how many unpriced) per group: by `key`, or overall if None."""
    groups: dict[str, tuple[Decimal, int]] = {}
    for record in records:
        name = record[key] if key else "overall"
        cost, unpriced = groups.get(name, (Decimal(0), 0))
        if record["model"] == UNPRICED_MODEL:
            unpriced += 1
        else:
            cost += amounts(record["endpoint"], record["usage"], record_prices(record))["total"]
        groups[name] = (cost, unpriced)
    return groups


def assert_group(group: dict[str, Any], cost: Decimal, unpriced: int, priced: bool) -> None:
    assert group["unpriced"] == unpriced
    if priced:
        assert abs(group["estimated_cost_usd"] - float(cost)) <= CLOSE * 10, (group, cost)
    else:
        assert group["estimated_cost_usd"] is None, group


async def test_a_batch_sums_the_priced_records_and_counts_the_unpriced(
    client: Client, output_schemas: dict[str, dict[str, Any]]
) -> None:
    ids = [*PRICED_IDS, UNPRICED_ID, MISSING_ID]
    result = await client.call_tool("get_generations", {"ids": ids})
    assert not result.is_error, text_of(result)
    batch = result.structured_content
    assert_valid(batch, output_schemas["get_generations"])
    assert batch["counts"] == {"ids": len(ids), "found": len(ids) - 1, "not_found": 1, "failed": 0}
    for item in batch["results"]:
        if item["id"] == MISSING_ID:
            assert "generation" not in item
        elif item["id"] == UNPRICED_ID:
            assert_unpriced(item["generation"]["estimated_cost"], UNPRICED_MODEL)
        else:
            api = SEED_RECORDS[item["id"]]
            assert api_fields(item["generation"]) == api
            assert_estimate(
                item["generation"]["estimated_cost"], api["endpoint"], api["usage"], record_prices(api)
            )
    records = [SEED_RECORDS[gen_id] for gen_id in ids if gen_id in SEED_RECORDS]
    totals = batch["totals"]
    ((cost, unpriced),) = expected_groups(records, None).values()
    assert unpriced == 1 and cost > 0
    assert_group(totals["overall"], cost, unpriced, priced=True)
    for key, groups in (("model", totals["by_model"]), ("endpoint", totals["by_endpoint"])):
        expected = expected_groups(records, key)
        assert set(groups) == set(expected)
        for name, (group_cost, group_unpriced) in expected.items():
            assert_group(groups[name], group_cost, group_unpriced, priced=name != UNPRICED_MODEL)
    text = text_of(result)
    assert f"1 of the {len(records)} not priced, so this is a partial sum" in text, text
    assert f"Not priced: {UNPRICED_ID} ({UNPRICED_MODEL})" in text, text


# --- 5: what a payload claimed --------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", sorted(SAMPLE_PAYLOADS))
async def test_extraction_prices_the_usage_the_payload_reported(
    client: Client, output_schemas: dict[str, dict[str, Any]], endpoint: str
) -> None:
    result = await client.call_tool("extract_generation_id", {"payload": SAMPLE_PAYLOADS[endpoint]})
    assert not result.is_error, text_of(result)
    found = result.structured_content
    assert_valid(found, output_schemas["extract_generation_id"])
    model, prompt, completion, read, write = PAYLOAD_USAGE[endpoint]
    usage = {"prompt_tokens": prompt, "completion_tokens": completion,
             "cache_read_input_tokens": read, "cache_creation_input_tokens": write}  # fmt: skip
    reported = found["usage"]
    assert {name: reported.get(name) or 0 for name in usage} == usage, reported
    assert found["model"] == model and found["endpoint"] == endpoint
    now = list_prices(model, whole_input(endpoint, usage))  # a payload is priced at today's prices
    assert_estimate(found["estimated_cost"], endpoint, usage, now)
    assert found["generations"], found
    assert found["generations"][0]["estimated_cost"] == found["estimated_cost"]
    for generation in found["generations"]:
        assert (generation["estimated_cost"] is None) == (generation["usage"] is None), generation
    assert "≈ $" in text_of(result), text_of(result)


# --- 7: estimates off -----------------------------------------------------------------------------


def assert_no_estimate(value: object) -> None:
    """No estimate anywhere in `value`: no key, or (in the extraction's fixed shape) null."""
    if isinstance(value, dict):
        assert value.get("estimated_cost") is None and "kushrouter_mcp_estimated_cost" not in value
        for item in value.values():
            assert_no_estimate(item)
    elif isinstance(value, list):
        for item in value:
            assert_no_estimate(item)


async def test_with_estimates_off_nothing_is_priced(sandbox: RunningSandbox, tmp_path: Path) -> None:
    ids = [*ALICE_IDS, MISSING_ID]
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with stdio_server(sandbox, errlog, KUSHROUTER_MCP_PRICES="off") as off:
            singles = [await off.call_tool("get_generation", {"id": gen_id}) for gen_id in ALICE_IDS]
            batch = await off.call_tool("get_generations", {"ids": ids})
            extracted = [
                await off.call_tool("extract_generation_id", {"payload": payload})
                for payload in SAMPLE_PAYLOADS.values()
            ]
            resource = await off.read_resource(f"kushrouter://generations/{ANTHROPIC_ID}")
    for gen_id, single in zip(ALICE_IDS, singles, strict=True):
        assert not single.is_error and single.structured_content == SEED_RECORDS[gen_id]
        assert "$" not in text_of(single) and "Estimated cost" not in text_of(single)
    assert resource_record(resource) == SEED_RECORDS[ANTHROPIC_ID]
    totals = batch.structured_content["totals"]
    found = batch.structured_content["counts"]["found"]
    assert found == len(ALICE_IDS)
    assert (totals["overall"]["estimated_cost_usd"], totals["overall"]["unpriced"]) == (None, found)
    for group in (*totals["by_model"].values(), *totals["by_endpoint"].values()):
        assert group["estimated_cost_usd"] is None and group["unpriced"] == group["generations"]
    assert_no_estimate(batch.structured_content["results"])
    assert not DOLLAR_AMOUNT.search(text_of(batch)) and "$" not in text_of(batch)
    for result in extracted:
        assert not result.is_error
        assert_no_estimate(result.structured_content)
        assert "$" not in text_of(result)


# --- 8: the user's prices file --------------------------------------------------------------------

PRICES_TOML = """\
# KushRouter's rates for the models we use, USD per million tokens
[models."gpt-5-2025-08-07"]
input = 2.5
output = 12.0
cache_read = 0.5

[models."kush-support-*"]
input = 0.4
output = 1.6
provider = "kushrouter"
"""
FILE_GPT5 = Prices(Decimal("2.5"), Decimal("12.0"), Decimal("0.5"), None, "gpt-5-2025-08-07", None,
                   "prices file kush-rates.toml")  # fmt: skip
FILE_GLOB = Prices(Decimal("0.4"), Decimal("1.6"), None, None, "kush-support-*", "kushrouter",
                   "prices file kush-rates.toml")  # fmt: skip


async def test_a_prices_file_wins_over_list_prices_and_prices_a_model_they_lack(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    prices = tmp_path / "kush-rates.toml"
    prices.write_text(PRICES_TOML)
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with stdio_server(sandbox, errlog, KUSHROUTER_MCP_PRICES=str(prices)) as own:
            overridden = await own.call_tool("get_generation", {"id": RESPONSES_ID})
            globbed = await own.call_tool("get_generation", {"id": UNPRICED_ID})
            listed = await own.call_tool("get_generation", {"id": CHAT_ID})
            batch = await own.call_tool("get_generations", {"ids": [RESPONSES_ID, UNPRICED_ID, CHAT_ID]})
    api = SEED_RECORDS[RESPONSES_ID]
    assert api["usage"]["cache_read_input_tokens"], "the override covers a cache read at its own rate"
    assert_estimate(overridden.structured_content["estimated_cost"], api["endpoint"], api["usage"], FILE_GPT5)
    list_total = amounts(api["endpoint"], api["usage"], record_prices(api))["total"]
    assert amounts(api["endpoint"], api["usage"], FILE_GPT5)["total"] != list_total, "the file must differ"
    unpriced = SEED_RECORDS[UNPRICED_ID]
    assert_estimate(
        globbed.structured_content["estimated_cost"], unpriced["endpoint"], unpriced["usage"], FILE_GLOB
    )
    chat = SEED_RECORDS[CHAT_ID]
    assert_estimate(
        listed.structured_content["estimated_cost"], chat["endpoint"], chat["usage"], record_prices(chat)
    )
    assert "at your prices (prices file kush-rates.toml)" in text_of(overridden), text_of(overridden)
    assert str(tmp_path) not in text_of(overridden), "the file's name, never its directory"
    overall = batch.structured_content["totals"]["overall"]
    expected = sum(
        amounts(SEED_RECORDS[gen_id]["endpoint"], SEED_RECORDS[gen_id]["usage"], rates)["total"]
        for gen_id, rates in (
            (RESPONSES_ID, FILE_GPT5),
            (UNPRICED_ID, FILE_GLOB),
            (CHAT_ID, record_prices(chat)),
        )
    )
    assert overall["unpriced"] == 0 and abs(overall["estimated_cost_usd"] - float(expected)) <= CLOSE * 10
    assert "at your prices and list prices" in text_of(batch), text_of(batch)


# --- 9: over HTTP ---------------------------------------------------------------------------------


async def test_over_http_a_record_carries_the_same_estimate_as_over_stdio(
    client: Client, sandbox: RunningSandbox, http_server_factory: Any
) -> None:
    env = server_env(sandbox.base_url, api_key=None, KUSHROUTER_MCP_KEY_MODE="per-request")
    url, _ = http_server_factory(env)
    async with bearer_client(url, ALICE_KEY) as over_http:
        result = await over_http.call_tool("get_generation", {"id": ANTHROPIC_ID})
    assert not result.is_error, text_of(result)
    over_stdio = await client.call_tool("get_generation", {"id": ANTHROPIC_ID})
    assert result.structured_content == over_stdio.structured_content
    api = SEED_RECORDS[ANTHROPIC_ID]
    assert_estimate(
        result.structured_content["estimated_cost"], api["endpoint"], api["usage"], record_prices(api)
    )
    assert "≈ $" in text_of(result)
