"""A key written with JSON escapes (`kr\\u005f…`) in an answer never reaches a caller or the cache.

Scrubbing the raw bytes can't see such a key; decoding turns it back into the key. The decoded body
is scrubbed too: every string at any depth, object keys included.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import server_env
from http_helpers import OTHER_TOKEN, TOKEN, bearer_client, running_server
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, CHAT_ID
from kushrouter_mcp.settings.config import Settings
from kushrouter_mcp.settings.keys import REDACTED, ApiKey, scrub_json
from kushrouter_mcp.upstream.client import GenerationsApi, new_http_client
from kushrouter_mcp.upstream.failures import LookupFailed

pytestmark = pytest.mark.anyio


def escaped(text: str, every: bool = False) -> str:
    """`text` as JSON string content with its underscores (or every character) as \\uXXXX escapes."""
    return "".join(f"\\u{ord(char):04x}" if every or char == "_" else char for char in text)


def record_body(key_text: str) -> bytes:
    """A 200 body whose record carries `key_text` (raw JSON string content) in every kind of place."""
    return (
        '{"success": true, "generation": {'
        f'"id": "{CHAT_ID}", "model": "gpt-5-mini-2025-08-07", "usage": {{"total_tokens": 3}}, '
        f'"note": "sent with {key_text}", '
        f'"debug": {{"headers": [["authorization", "Bearer {key_text}"]], "{key_text}": true}}, '
        f'"deep": [[[[{{"k": ["{ALICE_KEY[:6]}{escaped(ALICE_KEY[6:], every=True)}"]}}]]]]'
        "}}"
    ).encode()


def assert_no_key(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert ALICE_KEY not in text and ALICE_KEY[3:] not in text, text
    assert REDACTED in text


@pytest.mark.parametrize("key_text", [escaped(ALICE_KEY), escaped(ALICE_KEY, every=True)])
async def test_an_escaped_key_in_a_record_is_scrubbed_before_it_is_cached(
    sandbox: RunningSandbox, key_text: str
) -> None:
    assert ALICE_KEY not in key_text, "the raw body does not hold the key as such"
    settings = Settings(api_key=ApiKey(ALICE_KEY), base_url=sandbox.base_url)
    sandbox.state.add_fault(200, body=record_body(key_text))
    async with new_http_client(settings) as http:
        api = GenerationsApi(settings, http)
        first = await api.lookup(CHAT_ID, settings.api_key)
        again = await api.lookup(CHAT_ID, settings.api_key)
    assert_no_key(first.record)
    assert first.record["debug"][REDACTED] is True, "an object key holding the key is renamed"
    assert first.record["note"] == f"sent with {REDACTED}"
    assert again.cached and again.record == first.record, "the cache holds the scrubbed record"
    assert len(sandbox.state.requests) == 1


async def test_an_escaped_key_cut_short_in_an_error_text_is_still_redacted(sandbox: RunningSandbox) -> None:
    # The quoted error text is cut at 200 characters; the cut falls inside the decoded key.
    said = "x" * 180 + f" {escaped(ALICE_KEY)}"
    sandbox.state.add_fault(400, body=f'{{"error": "{said}"}}'.encode())
    settings = Settings(api_key=ApiKey(ALICE_KEY), base_url=sandbox.base_url)
    async with new_http_client(settings) as http:
        with pytest.raises(LookupFailed) as caught:
            await GenerationsApi(settings, http).lookup(CHAT_ID, settings.api_key)
    assert REDACTED in caught.value.message
    assert ALICE_KEY[:12] not in caught.value.message, "not even the head of the key"


def test_scrubbing_reaches_any_depth_and_leaves_other_values_alone() -> None:
    key = ApiKey("kr_secret_123")
    deep: Any = "kr_secret_123!"
    for _ in range(5000):  # deeper than Python's recursion limit
        deep = [deep]
    value = {
        "a": 1,
        "b": None,
        "c": 1.5,
        "d": True,
        "kr_secret_123": deep,
        "e": ["x", {"f": "kr_secret_123"}],
    }
    scrubbed = scrub_json(value, key)
    assert list(scrubbed) == ["a", "b", "c", "d", REDACTED, "e"], "order kept, key renamed"
    assert scrubbed["e"] == ["x", {"f": REDACTED}] and scrubbed["a"] == 1 and scrubbed["d"] is True
    inner = scrubbed[REDACTED]
    while isinstance(inner, list):
        inner = inner[0]
    assert inner == f"{REDACTED}!"
    assert scrub_json("a kr_secret_123", key) == f"a {REDACTED}"
    assert scrub_json(42, key) == 42


@pytest.fixture(scope="module")
def token_server(
    sandbox_session: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """Server-key mode, cache on: every token holder's lookups are made with the server's key."""
    env = server_env(sandbox_session.base_url, KUSHROUTER_MCP_TOKENS=f"{TOKEN},{OTHER_TOKEN}")
    with running_server(env, tmp_path_factory.mktemp("escaped")) as server:
        yield server


async def test_a_later_token_holder_never_gets_the_servers_key_from_the_cache(
    sandbox: RunningSandbox, token_server: tuple[str, Path]
) -> None:
    url, log = token_server
    sandbox.state.add_fault(200, body=record_body(escaped(ALICE_KEY)))  # once: later calls hit the cache
    async with bearer_client(url, TOKEN) as first:
        fetched = await first.call_tool("get_generation", {"id": CHAT_ID})
    async with bearer_client(url, OTHER_TOKEN) as later:
        cached = await later.call_tool("get_generation", {"id": CHAT_ID})
        batch = await later.call_tool("get_generations", {"ids": [CHAT_ID]})
        resource = await later.read_resource(f"kushrouter://generations/{CHAT_ID}")
    assert not fetched.is_error and fetched.structured_content["id"] == CHAT_ID
    assert "cache" in cached.content[0].text
    assert len(sandbox.state.requests) == 1
    for output in (fetched, cached, batch):
        assert_no_key(output.model_dump(mode="json"))
    assert_no_key(json.loads(resource.contents[0].text))
    assert ALICE_KEY not in log.read_text()
