"""Over HTTP, in both key modes, no key or access token shows: not in logs at DEBUG, not in tool
output, not in any HTTP response — on every error path, auth failures included."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import httpx
import pytest

from conftest import LEAK_CANARY, server_env
from http_helpers import TOKEN, StartHttp, bearer_client, initialize, raw_post
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import CHAT_ID, KEY_OWNERS
from test_secrets import ERROR_IDS

pytestmark = pytest.mark.anyio

WRONG_KEY = "kr_live_WRONGCANARY_0a9b8c7d6e5f4a3b"  # a key KushRouter doesn't know: 401 upstream
SECRETS = [LEAK_CANARY, LEAK_CANARY[8:], TOKEN, TOKEN[4:], WRONG_KEY, WRONG_KEY[8:]]
QUICK = {"KUSHROUTER_MCP_LOG_LEVEL": "DEBUG", "KUSHROUTER_TIMEOUT": "2", "KUSHROUTER_MAX_RETRIES": "1"}


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


async def refused_responses(url: str) -> list[str]:
    """Auth failures that quote near-misses of real secrets: the answers must not echo them."""
    texts = []
    async with httpx.AsyncClient(timeout=10) as http:
        for bearer in (f"{TOKEN}x", TOKEN[:-1], f"{LEAK_CANARY} {TOKEN}", f"{WRONG_KEY}!"):
            response = await raw_post(http, url, initialize(), Authorization=f"Bearer {bearer}")
            assert response.status_code in (400, 401)
            texts.append(f"{response.headers}\n{response.text}")
    return texts


async def every_error_path(url: str, bearer: str, sandbox: RunningSandbox) -> list[str]:
    outputs: list[str] = []
    async with bearer_client(url, bearer) as client:
        # An upstream that echoes the key in its error body must not get it into the answer either.
        sandbox.state.add_fault(400, body=json.dumps({"error": f"bad key {LEAK_CANARY}"}).encode())
        echoed = await client.call_tool("get_generation", {"id": CHAT_ID})
        assert echoed.is_error and "[redacted]" in echoed.content[0].text
        outputs.append(echoed.model_dump_json())

        async def call(generation_id: str) -> None:
            result = await client.call_tool("get_generation", {"id": generation_id})
            assert result.is_error, generation_id
            outputs.append(result.model_dump_json())

        async with anyio.create_task_group() as group:  # concurrently: the slow paths overlap
            for generation_id in ERROR_IDS:
                group.start_soon(call, generation_id)
        ok = await client.call_tool("get_generation", {"id": CHAT_ID})
        assert not ok.is_error
        outputs.append(ok.model_dump_json())
    return outputs


async def test_server_key_mode_leaks_neither_key_nor_token(
    sandbox: RunningSandbox, http_server_factory: StartHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(KEY_OWNERS, LEAK_CANARY, "alice")  # the sandbox accepts the canary as alice's key
    env = server_env(sandbox.base_url, api_key=LEAK_CANARY, KUSHROUTER_MCP_TOKENS=TOKEN, **QUICK)
    url, log = http_server_factory(env)
    texts = [*await refused_responses(url), *await every_error_path(url, TOKEN, sandbox)]
    assert_all_clean(texts, log)


async def test_per_request_mode_leaks_no_caller_key(
    sandbox: RunningSandbox, http_server_factory: StartHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(KEY_OWNERS, LEAK_CANARY, "alice")
    env = server_env(sandbox.base_url, api_key=None, KUSHROUTER_MCP_KEY_MODE="per-request", **QUICK)
    url, log = http_server_factory(env)
    texts = [*await refused_responses(url), *await every_error_path(url, LEAK_CANARY, sandbox)]
    async with httpx.AsyncClient(timeout=10) as http:  # a key KushRouter refuses: no way in
        refused = await raw_post(http, url, initialize(), Authorization=f"Bearer {WRONG_KEY}")
    assert refused.status_code == 401 and "KushRouter rejected the API key" in refused.text
    texts.append(f"{refused.headers}\n{refused.text}")
    assert_all_clean(texts, log)


def assert_all_clean(texts: list[str], log: Path) -> None:
    logs = log.read_text()
    # Real log lines, through our scrubbing handler (the SDK's own would print bare messages).
    assert "INFO kushrouter_mcp.upstream.client: GET generation" in logs, "no real log lines seen"
    assert " DEBUG " in logs, "no DEBUG lines seen"
    for text in [*texts, logs]:
        assert_clean(text)
