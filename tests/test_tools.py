"""The tools, the resource and the prompt through the SDK's in-memory client: schemas, answers, and
failures as isError results (MCP errors for the resource)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from kushrouter_mcp.face.app import create_server
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import (
    ALICE_KEY,
    ANTHROPIC_ID,
    CHAT_ID,
    RESPONSES_ID,
    SAMPLE_PAYLOADS,
    SEED_RECORDS,
)
from kushrouter_mcp.settings.config import Settings
from kushrouter_mcp.settings.keys import ApiKey
from priced import api_fields

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(sandbox: RunningSandbox) -> AsyncIterator[Client]:
    settings = Settings(api_key=ApiKey(ALICE_KEY), base_url=sandbox.base_url)
    async with Client(create_server(settings)) as connected:
        yield connected


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


async def test_lists_the_tools_with_schemas_and_annotations(client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"get_generation", "get_generations", "extract_generation_id", "usage_report"}
    lookup, extract = tools["get_generation"], tools["extract_generation_id"]
    id_schema = lookup.input_schema["properties"]["id"]
    assert (id_schema["type"], id_schema["minLength"], id_schema["maxLength"]) == ("string", 1, 256)
    assert "pattern" in id_schema and lookup.input_schema["required"] == ["id"]
    payload_types = {option["type"] for option in extract.input_schema["properties"]["payload"]["anyOf"]}
    assert payload_types == {"string", "object", "array"}
    assert {"id", "usage", "endpoint", "model", "finish_reason", "status"} <= set(
        lookup.output_schema["properties"]
    )
    assert lookup.output_schema.get("additionalProperties") is True
    assert {"id", "endpoint", "ids", "stream", "usage"} <= set(extract.output_schema["properties"])
    for tool in (lookup, extract):
        assert tool.title and tool.description and len(tool.description) > 200
        assert tool.annotations.read_only_hint is True and tool.annotations.idempotent_hint is True
    assert lookup.annotations.open_world_hint is True
    assert extract.annotations.open_world_hint is False


async def test_get_generation_returns_the_record_and_a_summary(client: Client) -> None:
    result = await client.call_tool("get_generation", {"id": CHAT_ID})
    assert not result.is_error
    assert api_fields(result.structured_content) == SEED_RECORDS[CHAT_ID]
    summary = text_of(result)
    assert CHAT_ID in summary and "121 prompt + 345 completion = 466 total" in summary
    assert "gpt-5-mini" in summary


@pytest.mark.parametrize(
    ("bad_id", "words"),
    [
        ("", "empty"),
        ("x" * 257, "257 characters"),
        ("chatcmpl-1 2", "whitespace"),
        (" chatcmpl-1", "whitespace"),
        ("chatcmpl-1\n", "U+000A"),
        ("chatcmpl-\x00", "control"),
        ("chatcmpl-\u200b1", "ZERO WIDTH"),
        (42, "must be a string"),
        (None, "must be a string"),
    ],
)
async def test_bad_ids_are_explained_and_never_sent(
    client: Client, sandbox: RunningSandbox, bad_id: object, words: str
) -> None:
    result = await client.call_tool("get_generation", {"id": bad_id})
    assert result.is_error
    assert words in text_of(result)
    assert text_of(result).startswith("Invalid generation id:")
    assert sandbox.state.requests == []


@pytest.mark.parametrize(
    "quoted",
    [f'"{CHAT_ID}"', f"'{CHAT_ID}'", f"`{CHAT_ID}`", f"\u201c{CHAT_ID}\u201d", f"\u2018{CHAT_ID}\u2019"],
)
async def test_one_pair_of_quotes_around_an_id_comes_off(
    client: Client, sandbox: RunningSandbox, quoted: str
) -> None:
    result = await client.call_tool("get_generation", {"id": quoted})
    assert not result.is_error
    assert api_fields(result.structured_content) == SEED_RECORDS[CHAT_ID]
    resource = await client.read_resource(f"kushrouter://generations/{quoted}")
    assert api_fields(json.loads(resource.contents[0].text)) == SEED_RECORDS[CHAT_ID]
    assert [request.query for request in sandbox.state.requests] == [[("id", CHAT_ID)]], (
        "sent bare, then cached"
    )


@pytest.mark.parametrize(
    "unmatched", [f'"{CHAT_ID}', f"{CHAT_ID}'", f'`{CHAT_ID}"', f'""{CHAT_ID}""', f"\u201d{CHAT_ID}\u201c"]
)
async def test_a_quote_without_its_pair_is_explained_and_never_sent(
    client: Client, sandbox: RunningSandbox, unmatched: str
) -> None:
    result = await client.call_tool("get_generation", {"id": unmatched})
    assert result.is_error
    assert text_of(result).startswith("Invalid generation id: The id starts or ends with a quote")
    assert "matching" in text_of(result)
    assert sandbox.state.requests == []


async def test_an_id_of_256_characters_is_accepted_and_sent(client: Client, sandbox: RunningSandbox) -> None:
    result = await client.call_tool("get_generation", {"id": "c" * 256})
    assert result.is_error and "404" in text_of(result)
    assert sandbox.state.requests[0].query == [("id", "c" * 256)]


async def test_upstream_failures_are_is_error_results(client: Client) -> None:
    for generation_id, words in [
        ("sandbox-status-503", "server error (503)"),
        ("sandbox-status-403", "403"),
        ("sandbox-wrong-shape", "documented body"),
        ("chatcmpl-nope", "not found"),
    ]:
        result = await client.call_tool("get_generation", {"id": generation_id})
        assert result.is_error, generation_id
        assert words in text_of(result)
        assert result.structured_content is None


async def test_missing_key_is_an_is_error_that_names_the_variable(sandbox: RunningSandbox) -> None:
    async with Client(create_server(Settings(base_url=sandbox.base_url))) as keyless:
        result = await keyless.call_tool("get_generation", {"id": CHAT_ID})
        extracted = await keyless.call_tool("extract_generation_id", {"payload": CHAT_ID})
    assert result.is_error and "KUSHROUTER_API_KEY" in text_of(result)
    assert not extracted.is_error, "extraction needs no key"


@pytest.mark.parametrize(("endpoint", "expected_id"), [
    ("openai.chat.completions", CHAT_ID),
    ("openai.responses", RESPONSES_ID),
    ("anthropic.messages", ANTHROPIC_ID),
])  # fmt: skip
async def test_extract_then_lookup_agree_on_usage(client: Client, endpoint: str, expected_id: str) -> None:
    extracted = await client.call_tool("extract_generation_id", {"payload": SAMPLE_PAYLOADS[endpoint]})
    assert not extracted.is_error
    found = extracted.structured_content
    assert (found["id"], found["endpoint"], found["ids"]) == (expected_id, endpoint, [expected_id])
    looked_up = await client.call_tool("get_generation", {"id": found["id"]})
    billed = looked_up.structured_content["usage"]
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert found["usage"][name] == billed[name]
    assert expected_id in text_of(extracted)


async def test_extract_accepts_parsed_json(client: Client) -> None:
    body = json.loads(SAMPLE_PAYLOADS["openai.responses"])
    result = await client.call_tool("extract_generation_id", {"payload": body})
    assert result.structured_content["id"] == RESPONSES_ID
    assert result.structured_content["stream"] is False
    events = [{"type": "message_start", "message": {"id": ANTHROPIC_ID, "type": "message", "model": "m"}}]
    result = await client.call_tool("extract_generation_id", {"payload": events})
    assert result.structured_content["id"] == ANTHROPIC_ID and result.structured_content["stream"] is True


async def test_extract_without_an_id_says_what_it_looked_for(client: Client) -> None:
    result = await client.call_tool(
        "extract_generation_id", {"payload": "just some prose, call_abc toolu_01"}
    )
    assert result.is_error
    for words in ("chatcmpl-", "resp_", "msg_"):
        assert words in text_of(result)


async def test_extract_over_the_limit_is_a_clear_error_and_serving_goes_on(sandbox: RunningSandbox) -> None:
    settings = Settings(base_url=sandbox.base_url, max_payload_chars=1000)
    async with Client(create_server(settings)) as small:
        result = await small.call_tool("extract_generation_id", {"payload": "x" * 1001})
        assert result.is_error and "1,000-character limit" in text_of(result)
        assert "KUSHROUTER_MCP_MAX_PAYLOAD_CHARS" in text_of(result)
        again = await small.call_tool("extract_generation_id", {"payload": CHAT_ID})
        assert not again.is_error


async def test_extract_reads_an_8_mib_stream(client: Client) -> None:
    chunk = (
        '{"id":"chatcmpl-big-1","object":"chat.completion.chunk",'
        '"choices":[{"index":0,"delta":{"content":"%s"}}]}'
    )
    events = [f"data: {chunk % ('word ' * 20)}\n\n"] * 60_000
    events.append(
        'data: {"id":"chatcmpl-big-1","object":"chat.completion.chunk","choices":[],'
        '"usage":{"prompt_tokens":7,"completion_tokens":9,"total_tokens":16}}\n\ndata: [DONE]\n\n'
    )
    payload = "".join(events)
    assert len(payload) > 8 * 1024 * 1024
    result = await client.call_tool("extract_generation_id", {"payload": payload})
    assert not result.is_error
    assert result.structured_content["id"] == "chatcmpl-big-1"
    assert result.structured_content["usage"]["total_tokens"] == 16


# --- The resource and the prompt ----------------------------------------------------------------


async def test_the_resource_template_returns_the_record_as_json(client: Client) -> None:
    templates = (await client.list_resource_templates()).resource_templates
    assert [t.uri_template for t in templates] == ["kushrouter://generations/{id}"]
    assert templates[0].mime_type == "application/json"
    result = await client.read_resource(f"kushrouter://generations/{RESPONSES_ID}")
    (content,) = result.contents
    assert content.mime_type == "application/json"
    assert api_fields(json.loads(content.text)) == SEED_RECORDS[RESPONSES_ID]


@pytest.mark.parametrize(
    ("gen_id", "words"),
    [
        ("chatcmpl-nowhere-1", "not found"),
        ("sandbox-status-403", "403"),
        ("x" * 300, "Invalid generation id: The id is 300 characters long"),
    ],
)
async def test_a_resource_that_cannot_be_read_is_a_clear_mcp_error(
    client: Client, gen_id: str, words: str
) -> None:
    with pytest.raises(MCPError) as caught:
        await client.read_resource(f"kushrouter://generations/{gen_id}")
    assert words in str(caught.value)
    assert (await client.call_tool("get_generation", {"id": CHAT_ID})).is_error is False, "still serving"


async def test_the_instructions_name_every_tool_and_the_prompt(client: Client) -> None:
    listed = [tool.name for tool in (await client.list_tools()).tools]
    prompts = [prompt.name for prompt in (await client.list_prompts()).prompts]
    assert client.instructions
    assert [name for name in [*listed, *prompts] if name not in client.instructions] == []


async def test_the_audit_usage_prompt_walks_through_the_audit(client: Client) -> None:
    (prompt,) = (await client.list_prompts()).prompts
    assert prompt.name == "audit_usage" and prompt.description
    result = await client.get_prompt("audit_usage", {"scope": "yesterday's batch job"})
    text = result.messages[0].content.text
    assert "yesterday's batch job" in text
    steps = ("extract_generation_id", "get_generations", "wait_seconds",
             "usage in the payload vs. usage billed", "unexpected models", "missing records",
             "usage_report")  # fmt: skip
    for step in steps:
        assert step in text, step
    default = await client.get_prompt("audit_usage", {})
    assert "the requests of this session" in default.messages[0].content.text
