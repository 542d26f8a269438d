"""Connections an attacker opens and never finishes are closed; a cap keeps room for real callers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager, suppress

import anyio
import httpx
import pytest

from conftest import server_env
from http_helpers import JSON_HEADERS, StartHttp, rpc
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import CHAT_ID

pytestmark = pytest.mark.anyio

PARTIAL_HEAD = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@contextmanager
def slow_header_sockets(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that have started a request head and will take their time with the rest."""
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
            sock.sendall(PARTIAL_HEAD)
            sockets.append(sock)
        yield sockets


def drip(sockets: list[socket.socket]) -> None:
    """One more header byte on each connection still open (a slowloris client's heartbeat)."""
    for sock in sockets:
        with suppress(OSError):
            sock.sendall(b"a")


def is_closed_by_server(sock: socket.socket) -> bytes | None:
    """What the server sent before closing, or None while the connection stays open."""
    sock.setblocking(False)
    try:
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
        return received  # EOF: closed
    except BlockingIOError:
        return None
    except ConnectionResetError:
        return b""
    finally:
        sock.setblocking(True)


async def good_call(url: str) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        call = rpc("tools/call", {"name": "get_generation", "arguments": {"id": CHAT_ID}})
        answer = await http.post(url, json=call, headers=JSON_HEADERS)
    assert answer.status_code == 200, answer.text
    assert CHAT_ID in answer.text and '"isError":false' in answer.text.replace(" ", "")


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


async def test_slow_header_connections_are_closed_after_the_header_timeout(
    sandbox: RunningSandbox, http_server_factory: StartHttp
) -> None:
    env = server_env(sandbox.base_url, KUSHROUTER_MCP_HEADER_TIMEOUT="2")
    url, _ = http_server_factory(env, "--stateless")
    with slow_header_sockets(_port(url), 30) as sockets:
        started = time.monotonic()
        for _ in range(2):  # good calls go through while the slow ones hang on
            drip(sockets)
            await good_call(url)
            await anyio.sleep(1)
        answers: list[bytes | None] = [None] * len(sockets)
        while time.monotonic() - started < 6 and None in answers:
            drip(sockets)
            answers = [
                answer if answer is not None else is_closed_by_server(s)
                for answer, s in zip(answers, sockets, strict=True)
            ]
            await anyio.sleep(0.5)
        closed_after = time.monotonic() - started
    assert None not in answers, (
        f"{answers.count(None)} slow connections still open after {closed_after:.1f} s"
    )
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers if answer), answers[0]
    assert b"KUSHROUTER_MCP_HEADER_TIMEOUT" in (answers[0] or b"")
    await good_call(url)


async def test_at_the_connection_cap_slow_connections_make_room_for_callers(
    sandbox: RunningSandbox, http_server_factory: StartHttp
) -> None:
    # A header timeout far away: here only the cap protects the callers.
    env = server_env(
        sandbox.base_url, KUSHROUTER_MCP_HEADER_TIMEOUT="60", KUSHROUTER_MCP_MAX_CONNECTIONS="16"
    )
    url, _ = http_server_factory(env, "--stateless")
    with slow_header_sockets(_port(url), 40) as sockets:
        await anyio.sleep(0.5)
        for _ in range(5):
            await good_call(url)
        await anyio.sleep(0.3)
        still_open = [sock for sock in sockets if is_closed_by_server(sock) is None]
    # 40 slow connections plus callers against a cap of 16: the oldest slow ones were closed.
    assert len(still_open) <= 16, f"{len(still_open)} slow connections open with a cap of 16"


async def test_when_every_connection_is_busy_a_new_one_gets_503_with_the_reason(
    sandbox: RunningSandbox, http_server_factory: StartHttp
) -> None:
    env = server_env(sandbox.base_url, KUSHROUTER_MCP_MAX_CONNECTIONS="16")
    url, _ = http_server_factory(env, "--stateless")
    slow_call = rpc("tools/call", {"name": "get_generation", "arguments": {"id": "sandbox-slow-3"}})

    async def busy(http: httpx.AsyncClient) -> None:
        answer = await http.post(url, json=slow_call, headers=JSON_HEADERS)
        assert answer.status_code == 200

    async with AsyncExitStack() as stack, anyio.create_task_group() as group:
        for _ in range(16):  # one connection each
            group.start_soon(busy, await stack.enter_async_context(httpx.AsyncClient(timeout=20)))
        await anyio.sleep(1.0)
        async with httpx.AsyncClient(timeout=5) as extra:
            refused = await extra.get(url.replace("/mcp", "/healthz"))
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "1"
    assert (
        "16 connections open, all busy (KUSHROUTER_MCP_MAX_CONNECTIONS)" in refused.json()["error"]["message"]
    )
    async with httpx.AsyncClient(timeout=5) as http:  # the busy ones done, room again
        assert (await http.get(url.replace("/mcp", "/healthz"))).status_code == 200
