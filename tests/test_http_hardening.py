"""Hostile and broken input over HTTP: each gets a 4xx or a JSON-RPC error, and the next good call works."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from conftest import server_env
from http_helpers import JSON_HEADERS, bearer_client, initialize, raw_post, rpc, running_server
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import CHAT_ID

pytestmark = pytest.mark.anyio

BODY_LIMIT = 65536
DEEP = 10_000  # nesting far past any recursion limit, within the body limit

# (label, body, extra headers, acceptable statuses); sent inside an initialized session.
BAD_REQUESTS: list[tuple[str, bytes, dict[str, str], set[int]]] = [
    ("not json", b"{not json", {}, {400}),
    ("empty body", b"", {}, {400}),
    ("invalid utf-8", b'{"jsonrpc": "2.0", "id": 1, "method": "\xff\xfe"}', {}, {400}),
    ("json string", b'"hello"', {}, {400}),
    ("json number", b"42", {}, {400}),
    ("json null", b"null", {}, {400}),
    ("empty batch", b"[]", {}, {400}),
    ("batch", json.dumps([rpc("ping", request_id=1), rpc("ping", request_id=2)]).encode(), {}, {400}),
    ("no method", b'{"jsonrpc": "2.0", "id": 7}', {}, {400}),
    ("wrong jsonrpc version", b'{"jsonrpc": "1.0", "id": 7, "method": "ping"}', {}, {400}),
    ("params not an object", json.dumps(rpc("tools/list", [1, 2])).encode(), {}, {200, 400}),  # type: ignore[arg-type]
    ("deeply nested array", b"[" * DEEP + b"]" * DEEP, {}, {400}),
    ("deeply nested params", json.dumps(rpc("ping")).encode()[:-1] + b', "x": ' + b'{"a":' * DEEP
     + b"1" + b"}" * DEEP + b"}", {}, {400, 413}),
    ("wrong content type", json.dumps(rpc("ping")).encode(), {"Content-Type": "text/plain"}, {400, 415}),
    ("form content type", b"a=1", {"Content-Type": "application/x-www-form-urlencoded"}, {400, 415}),
    ("no accept", json.dumps(rpc("ping")).encode(), {"Accept": "text/html"}, {406}),
    ("declared oversized", b"x" * (BODY_LIMIT + 1), {}, {413}),
    ("bad session id", json.dumps(rpc("ping")).encode(), {"mcp-session-id": "nope"}, {400, 404}),
]  # fmt: skip


@pytest.fixture(scope="module")
def server(sandbox_session: RunningSandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env, logs = server_env(sandbox_session.base_url), tmp_path_factory.mktemp("hardening")
    with running_server(env, logs, "--max-body-bytes", str(BODY_LIMIT)) as (url, _):
        yield url


@pytest.fixture
async def session(server: str) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    async with httpx.AsyncClient(timeout=30) as http:
        opened = await raw_post(http, server, initialize())
        assert opened.status_code == 200
        headers = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        await raw_post(http, server, {"jsonrpc": "2.0", "method": "notifications/initialized"}, **headers)
        yield http, headers


def json_rpc_answer(response: httpx.Response) -> dict[str, Any]:
    """The one JSON-RPC message in a JSON or SSE response."""
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [
            line[5:] for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()
        ]
        assert len(data) == 1, response.text
        return dict(json.loads(data[0]))
    return dict(response.json())


async def good_call(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
    call = rpc("tools/call", {"name": "extract_generation_id", "arguments": {"payload": CHAT_ID}}, 99)
    response = await raw_post(http, url, call, **headers)
    assert response.status_code == 200
    assert json_rpc_answer(response)["result"]["structuredContent"]["id"] == CHAT_ID


async def test_each_bad_request_gets_a_4xx_and_the_server_keeps_serving(
    server: str, session: tuple[httpx.AsyncClient, dict[str, str]]
) -> None:
    http, headers = session
    for label, body, extra, statuses in BAD_REQUESTS:
        response = await http.post(server, content=body, headers={**JSON_HEADERS, **headers, **extra})
        assert response.status_code in statuses, (label, response.status_code, response.text[:300])
        if response.status_code == 200:  # accepted at the HTTP level: then a JSON-RPC error
            assert "error" in json_rpc_answer(response), label
        await good_call(http, server, headers)


async def test_an_oversized_body_without_content_length_is_refused(
    server: str, session: tuple[httpx.AsyncClient, dict[str, str]]
) -> None:
    http, headers = session

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "'
        for _ in range(BODY_LIMIT // 1024 + 2):
            yield b"x" * 1024
        yield b'"}}'

    response = await http.post(server, content=chunks(), headers={**JSON_HEADERS, **headers})
    assert response.status_code == 413
    await good_call(http, server, headers)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("no/such/method", {}),
        ("tools/call", {"name": "no_such_tool", "arguments": {}}),
        ("tools/call", {"name": "get_generation", "arguments": {"id": {"nested": [1, 2]}}}),
        ("tools/call", {"name": "get_generation", "arguments": "not an object"}),
        ("tools/call", {"name": "extract_generation_id", "arguments": {"payload": 12345}}),
        ("tools/call", {"name": "extract_generation_id"}),
        ("resources/read", {"uri": "file:///etc/passwd"}),
    ],
)
async def test_unknown_methods_and_bad_calls_get_errors_not_crashes(
    server: str, session: tuple[httpx.AsyncClient, dict[str, str]], method: str, params: dict[str, Any]
) -> None:
    http, headers = session
    response = await raw_post(http, server, rpc(method, params, 5), **headers)
    assert response.status_code in (200, 400), response.text[:300]
    if response.status_code == 200:
        answer = json_rpc_answer(response)
        assert "error" in answer or answer["result"]["isError"] is True, answer
    await good_call(http, server, headers)
    async with bearer_client(server, None) as client:  # a fresh client is served too
        assert not (await client.call_tool("extract_generation_id", {"payload": CHAT_ID})).is_error
