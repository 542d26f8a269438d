"""Who gets a session: made-up keys are refused before one exists, each caller has a session cap,
and a refusal says which header the server expects."""

from __future__ import annotations

import secrets
from typing import Any

import anyio
import httpx
import pytest

from conftest import server_env
from http_helpers import TOKEN, StartHttp, initialize, key_checks, raw_post
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, BOB_KEY

pytestmark = pytest.mark.anyio


def per_request_env(sandbox: RunningSandbox, **extra: str) -> dict[str, str]:
    return server_env(sandbox.base_url, api_key=None, KUSHROUTER_MCP_KEY_MODE="per-request", **extra)


async def open_session(http: httpx.AsyncClient, url: str, key: str) -> httpx.Response:
    return await raw_post(http, url, initialize(), Authorization=f"Bearer {key}")


async def test_made_up_keys_cannot_fill_the_session_cap_and_a_real_key_still_connects(
    sandbox: RunningSandbox, http_server_factory: StartHttp
) -> None:
    url, _ = http_server_factory(per_request_env(sandbox, KUSHROUTER_MCP_MAX_SESSIONS="50"))
    made_up = [f"kr_{secrets.token_hex(4)}" for _ in range(200)]
    statuses: list[int] = []

    async def attempt(http: httpx.AsyncClient, key: str) -> None:
        statuses.append((await open_session(http, url, key)).status_code)

    async with httpx.AsyncClient(timeout=30) as http:
        async with anyio.create_task_group() as group:
            for key in made_up:
                group.start_soon(attempt, http, key)
        assert statuses == [401] * len(made_up)
        again = await open_session(http, url, made_up[0])  # the bad verdict is kept: no new lookup
        assert again.status_code == 401
        assert len(key_checks(sandbox)) == len(made_up)
        assert "KushRouter rejected the API key" in again.json()["error_description"]
        for key in (ALICE_KEY, ALICE_KEY, BOB_KEY):  # real keys get sessions; alice is checked once
            assert (await open_session(http, url, key)).status_code == 200
    assert [r.key_owner for r in key_checks(sandbox)][len(made_up) :] == ["alice", "bob"]


async def test_an_unreachable_kushrouter_opens_no_session_and_says_so(http_server_factory: StartHttp) -> None:
    env = server_env("http://127.0.0.1:9", api_key=None, KUSHROUTER_MCP_KEY_MODE="per-request")
    url, _ = http_server_factory(env)
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await open_session(http, url, ALICE_KEY)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert "could not check your KushRouter API key" in answer.json()["error"]["message"]
    assert "mcp-session-id" not in answer.headers


@pytest.mark.parametrize("mode", ["server-key", "per-request"])
async def test_each_caller_has_a_session_cap_of_its_own(
    sandbox: RunningSandbox, http_server_factory: StartHttp, mode: str
) -> None:
    env = server_env(
        sandbox.base_url, KUSHROUTER_MCP_MAX_SESSIONS_PER_CALLER="3", KUSHROUTER_MCP_TOKENS=TOKEN
    )
    url, _ = http_server_factory({**env, "KUSHROUTER_MCP_KEY_MODE": mode})
    credential = TOKEN if mode == "server-key" else ALICE_KEY
    async with httpx.AsyncClient(timeout=30) as http:
        opened = [await open_session(http, url, credential) for _ in range(3)]
        assert [answer.status_code for answer in opened] == [200] * 3
        refused = await open_session(http, url, credential)
        assert refused.status_code == 429, refused.text
        message = refused.json()["error"]["message"]
        assert (
            "already has 3 open sessions" in message and "KUSHROUTER_MCP_MAX_SESSIONS_PER_CALLER" in message
        )
        if mode == "per-request":  # another caller is not held back
            assert (await open_session(http, url, BOB_KEY)).status_code == 200
        # Closing one makes room again.
        closed = await http.delete(
            url,
            headers={
                "Authorization": f"Bearer {credential}",
                "mcp-session-id": opened[0].headers["mcp-session-id"],
                "mcp-protocol-version": "2025-11-25",
            },
        )
        assert closed.status_code in (200, 204)
        assert (await open_session(http, url, credential)).status_code == 200


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("server-key", "'Authorization: Bearer <access token>'"),
        ("per-request", "your own KushRouter API key in the header 'Authorization: Bearer kr_…'"),
    ],
)
async def test_a_401_says_which_header_the_server_expects(
    sandbox: RunningSandbox, http_server_factory: StartHttp, mode: str, expected: str
) -> None:
    env = server_env(sandbox.base_url, KUSHROUTER_MCP_TOKENS=TOKEN, KUSHROUTER_MCP_KEY_MODE=mode)
    url, _ = http_server_factory(env)
    async with httpx.AsyncClient(timeout=10) as http:
        for headers in ({}, {"Authorization": "Bearer nope"}):
            answer = await raw_post(http, url, initialize(), **headers)
            assert answer.status_code == 401
            body: dict[str, Any] = answer.json()
            assert body["error"] == "invalid_token"  # the standard fields stay
            assert body["error_description"].startswith("Authentication required. ")
            assert expected in body["error_description"]
            assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
