"""Who gets in over HTTP, and with whose key: both key modes against real server processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from conftest import server_env
from http_helpers import (
    MODERN,
    MODES,
    OTHER_TOKEN,
    TOKEN,
    StartHttp,
    bearer_client,
    initialize,
    lookups,
    raw_post,
    rpc,
    running_server,
)
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, BOB_KEY, BOB_ONLY_ID, CHAT_ID, SEED_RECORDS
from priced import api_fields

pytestmark = pytest.mark.anyio


# One server per configuration for the whole module; the `sandbox` fixture resets upstream per test.
# These servers run uncached, so every call reaches the sandbox and can be counted there;
# test_per_request_cache_never_serves_one_callers_record_to_another runs with the cache on.
UNCACHED = {"KUSHROUTER_MCP_CACHE_SIZE": "0"}


@pytest.fixture(scope="module")
def token_server(sandbox_session: RunningSandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = server_env(sandbox_session.base_url, KUSHROUTER_MCP_TOKENS=f"{TOKEN},{OTHER_TOKEN}", **UNCACHED)
    with running_server(env, tmp_path_factory.mktemp("auth")) as (url, _):
        yield url


def _per_request(sandbox: RunningSandbox, logs: Path, *args: str) -> Iterator[str]:
    env = server_env(sandbox.base_url, api_key=None, KUSHROUTER_MCP_KEY_MODE="per-request", **UNCACHED)
    with running_server(env, logs, *args) as (url, _):
        yield url


@pytest.fixture(scope="module")
def per_request_server(
    sandbox_session: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from _per_request(sandbox_session, tmp_path_factory.mktemp("auth"))


@pytest.fixture(scope="module")
def stateless_per_request_server(
    sandbox_session: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from _per_request(sandbox_session, tmp_path_factory.mktemp("auth"), "--stateless")


async def assert_refused(url: str, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with httpx.AsyncClient(timeout=10) as http:
        response = await raw_post(http, url, initialize(), **headers)
    assert response.status_code == 401, authorization
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize("mode", MODES)
async def test_server_key_mode_lets_in_only_configured_tokens(
    sandbox: RunningSandbox, token_server: str, mode: str
) -> None:
    url = token_server
    for refused in (None, "Bearer", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}"):
        await assert_refused(url, refused)
    await assert_refused(url, f"Bearer {ALICE_KEY}")  # a per-request credential is no access token
    assert sandbox.state.requests == []  # nothing reached upstream
    for token in (TOKEN, OTHER_TOKEN):
        async with bearer_client(url, token, mode) as client:
            result = await client.call_tool("get_generation", {"id": CHAT_ID})
            assert not result.is_error
            assert api_fields(result.structured_content) == SEED_RECORDS[CHAT_ID]
            assert (client.protocol_version == MODERN) == (mode == MODERN)
    assert [r.key_owner for r in sandbox.state.requests] == ["alice", "alice"]  # the server's own key


async def test_a_session_stays_with_the_token_that_opened_it(
    sandbox: RunningSandbox, token_server: str
) -> None:
    url = token_server
    async with httpx.AsyncClient(timeout=10) as http:
        opened = await raw_post(http, url, initialize(), Authorization=f"Bearer {TOKEN}")
        assert opened.status_code == 200
        session = opened.headers["mcp-session-id"]
        list_tools = rpc("tools/list", request_id=2)
        common = {"mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
        stolen = await raw_post(http, url, list_tools, Authorization=f"Bearer {OTHER_TOKEN}", **common)
        assert stolen.status_code == 404
        anonymous = await raw_post(http, url, list_tools, **common)
        assert anonymous.status_code == 401
        own = await raw_post(http, url, list_tools, Authorization=f"Bearer {TOKEN}", **common)
        assert own.status_code == 200 and "get_generation" in own.text


async def test_per_request_mode_needs_a_kushrouter_key(
    sandbox: RunningSandbox, per_request_server: str
) -> None:
    url = per_request_server
    for refused in (None, f"Bearer {TOKEN}", "Bearer kr_", f"Bearer {ALICE_KEY} x", f"Token {ALICE_KEY}"):
        await assert_refused(url, refused)
    assert sandbox.state.requests == []


async def test_per_request_mode_ignores_a_server_key(
    sandbox: RunningSandbox, http_server_factory: StartHttp
) -> None:
    """A KUSHROUTER_API_KEY left in the environment must never stand in for a caller's key."""
    url, log = http_server_factory(
        server_env(sandbox.base_url, api_key=ALICE_KEY, KUSHROUTER_MCP_KEY_MODE="per-request")
    )
    async with bearer_client(url, BOB_KEY) as client:
        mine = await client.call_tool("get_generation", {"id": BOB_ONLY_ID})
        not_mine = await client.call_tool("get_generation", {"id": CHAT_ID})  # alice's generation
    assert not mine.is_error
    assert not_mine.is_error and "404" in not_mine.content[0].text
    assert [r.key_owner for r in lookups(sandbox)] == ["bob", "bob"]
    notes = log.read_text()
    assert "ignored" in notes
    assert ALICE_KEY not in notes and BOB_KEY not in notes


async def test_per_request_cache_never_serves_one_callers_record_to_another(
    sandbox: RunningSandbox, http_server_factory: StartHttp
) -> None:
    """The cache is on (the default): alice's repeat is a hit, bob's same id still asks upstream."""
    url, _ = http_server_factory(
        server_env(sandbox.base_url, api_key=None, KUSHROUTER_MCP_KEY_MODE="per-request")
    )
    async with bearer_client(url, ALICE_KEY) as alice, bearer_client(url, BOB_KEY) as bob:
        first = await alice.call_tool("get_generation", {"id": CHAT_ID})
        again = await alice.call_tool("get_generation", {"id": CHAT_ID})
        foreign = await bob.call_tool("get_generation", {"id": CHAT_ID})
        batch = await bob.call_tool("get_generations", {"ids": [CHAT_ID]})
    assert first.structured_content == again.structured_content
    assert api_fields(first.structured_content) == SEED_RECORDS[CHAT_ID]
    assert "cache" in again.content[0].text
    assert foreign.is_error and "404" in foreign.content[0].text
    assert batch.structured_content is not None and batch.structured_content["counts"]["found"] == 0
    assert [r.key_owner for r in lookups(sandbox)] == ["alice", "bob", "bob"]


@pytest.mark.parametrize("server", ["per_request_server", "stateless_per_request_server"])
@pytest.mark.parametrize("mode", MODES)
async def test_per_request_keys_never_mix(
    sandbox: RunningSandbox, request: pytest.FixtureRequest, server: str, mode: str
) -> None:
    """Alice and Bob call at the same time; upstream sees each one's calls with that one's key only."""
    url: str = request.getfixturevalue(server)
    sandbox.state.latency_seconds = 0.02  # calls overlap in the server
    rounds = 6
    outcomes: dict[str, list[bool]] = {}

    async def user(key: str, own_id: str, other_id: str) -> None:
        async with bearer_client(url, key, mode) as client:
            calls = [own_id] * rounds + [other_id]
            results = []
            for generation_id in calls:
                results.append((await client.call_tool("get_generation", {"id": generation_id})).is_error)
            outcomes[key] = results

    async with anyio.create_task_group() as group:
        group.start_soon(user, ALICE_KEY, CHAT_ID, BOB_ONLY_ID)
        group.start_soon(user, BOB_KEY, BOB_ONLY_ID, CHAT_ID)
    # Each reads its own generations; the other's is not found, as KushRouter answers a foreign key.
    assert outcomes[ALICE_KEY] == outcomes[BOB_KEY] == [False] * rounds + [True]
    owners = [request.key_owner for request in lookups(sandbox)]
    assert sorted(owners) == ["alice"] * (rounds + 1) + ["bob"] * (rounds + 1)
    by_owner = {o: [r.query for r in lookups(sandbox) if r.key_owner == o] for o in ("alice", "bob")}
    assert by_owner["alice"].count([("id", CHAT_ID)]) == rounds
    assert by_owner["bob"].count([("id", BOB_ONLY_ID)]) == rounds


async def test_per_request_sessions_belong_to_one_key(
    sandbox: RunningSandbox, per_request_server: str
) -> None:
    url = per_request_server
    async with httpx.AsyncClient(timeout=10) as http:
        opened = await raw_post(http, url, initialize(), Authorization=f"Bearer {ALICE_KEY}")
        common = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        call = rpc("tools/call", {"name": "get_generation", "arguments": {"id": CHAT_ID}}, 2)
        stolen = await raw_post(http, url, call, Authorization=f"Bearer {BOB_KEY}", **common)
        assert stolen.status_code == 404
    assert lookups(sandbox) == []
