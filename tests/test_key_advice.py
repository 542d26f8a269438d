"""Advice about the key names the place the key came from: the server's environment or the caller's header.

In HTTP per-request mode the server's KUSHROUTER_API_KEY plays no part: a caller whose own key is
wrong must be told to fix what its client sends, by the tool, the batch and the resource alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError

from conftest import server_env
from http_helpers import bearer_client, running_server
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, CHAT_ID, KEY_OWNERS
from kushrouter_mcp.settings.keys import KeySource
from kushrouter_mcp.upstream.failures import ErrorKind, status_advice

pytestmark = pytest.mark.anyio

WRONG_KEY = "kr_live_wrong_key_0123456789"
CALLER_FIX = "'Authorization: Bearer kr_…'"
SERVER_FIX = "KUSHROUTER_API_KEY"


@pytest.fixture(scope="module")
def per_request_server(
    sandbox_session: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = server_env(sandbox_session.base_url, api_key=None, KUSHROUTER_MCP_KEY_MODE="per-request")
    with running_server(env, tmp_path_factory.mktemp("advice")) as (url, _):
        yield url


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


def assert_caller_advice(text: str) -> None:
    assert CALLER_FIX in text, text
    assert SERVER_FIX not in text and "restart" not in text, text


async def test_a_callers_rejected_key_is_to_be_fixed_in_the_callers_header(
    sandbox: RunningSandbox, per_request_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A key KushRouter refuses never gets in (the 401 names the header: test_http_callers); one
    # revoked after it was let in is refused by the lookups themselves.
    monkeypatch.setitem(KEY_OWNERS, WRONG_KEY, "alice")
    async with bearer_client(per_request_server, WRONG_KEY) as client:
        monkeypatch.delitem(KEY_OWNERS, WRONG_KEY)
        sandbox.state.requests.clear()  # the key check, when the key was still good
        single = await client.call_tool("get_generation", {"id": CHAT_ID})
        batch = await client.call_tool("get_generations", {"ids": [CHAT_ID, "chatcmpl-other-1"]})
        with pytest.raises(MCPError) as resource:
            await client.read_resource(f"kushrouter://generations/{CHAT_ID}")
    assert single.is_error and "(401)" in text_of(single)
    assert_caller_advice(text_of(single))
    for item in batch.structured_content["results"]:
        assert item["error"]["kind"] == "unauthorized"
        assert_caller_advice(item["error"]["message"])
    assert_caller_advice(text_of(batch))
    assert_caller_advice(str(resource.value))
    assert {request.key_owner for request in sandbox.state.requests} == {"unknown"}


async def test_a_callers_forbidden_lookup_says_to_send_the_creating_key(
    sandbox: RunningSandbox, per_request_server: str
) -> None:
    async with bearer_client(per_request_server, ALICE_KEY) as client:
        result = await client.call_tool("get_generation", {"id": "sandbox-status-403"})
    assert result.is_error and "(403)" in text_of(result)
    assert_caller_advice(text_of(result))


@pytest.mark.parametrize("status", [401, 403])
def test_the_servers_key_is_to_be_fixed_in_the_servers_environment(status: int) -> None:
    _, server = status_advice(status, CHAT_ID, KeySource.SERVER)
    _, caller = status_advice(status, CHAT_ID, KeySource.CALLER)
    assert SERVER_FIX in server and CALLER_FIX not in server
    assert CALLER_FIX in caller and SERVER_FIX not in caller


def test_every_status_advice_is_complete_for_either_source() -> None:
    """No placeholder is left unfilled, whatever the status or the key's source."""
    for source in KeySource:
        for status in (400, 401, 402, 403, 404, 413, 418, 429, 500, 503):
            kind, advice = status_advice(status, CHAT_ID, source)
            assert isinstance(kind, ErrorKind)
            assert "{" not in advice and "}" not in advice, (status, source, advice)
