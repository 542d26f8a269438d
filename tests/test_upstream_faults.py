"""Upstream faults seen through the real HTTP server: each is a clear isError in bounded time, and the
server goes on serving.

The sandbox covers faults an HTTP server can answer with; a raw TCP peer here covers the ones it
can't: a connection reset in the middle of a body, and a body that trickles in slower than the timeout.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from mcp import Client

from conftest import free_port, server_env
from http_helpers import StartHttp, running_server
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import CHAT_ID

pytestmark = pytest.mark.anyio

TIMEOUT = 2.0  # KUSHROUTER_TIMEOUT for these servers: a lookup gives up after it, retries included
BOUND = TIMEOUT + 6.0  # generous: the machines are shared and noisy
FAST_FAIL = {"KUSHROUTER_TIMEOUT": str(TIMEOUT), "KUSHROUTER_MAX_RETRIES": "1"}
_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
_PARTIAL = b'{"success": true, "generation": {"id": "chatcmpl-1", "model": "'


class BrokenPeer:
    """Answers each request by its generation id: `reset-mid-body` or `slow-body`."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closing = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            request = connection.recv(65536)
            connection.sendall(_HEAD + _PARTIAL)
            if b"reset-mid-body" in request:  # RST, as a crashed proxy would
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            for _ in range(int(BOUND * 4)):  # slow-body: a byte every 0.25 s, never the whole body
                if self.closing.wait(0.25):
                    return
                try:
                    connection.sendall(b"x")
                except OSError:
                    return  # the client gave up

    def close(self) -> None:
        self.closing.set()
        self.listener.close()


@pytest.fixture(scope="module")
def sandbox_server(
    sandbox_session: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = server_env(sandbox_session.base_url, **FAST_FAIL)
    with running_server(env, tmp_path_factory.mktemp("faults")) as (url, _):
        yield url


@pytest.fixture
def broken_peer() -> Iterator[BrokenPeer]:
    peer = BrokenPeer()
    yield peer
    peer.close()


async def assert_fails_cleanly(url: str, generation_id: str, *words: str) -> None:
    async with Client(url) as client:
        started = time.monotonic()
        result = await client.call_tool("get_generation", {"id": generation_id})
        elapsed = time.monotonic() - started
        assert result.is_error, generation_id
        text = result.content[0].text
        for word in words:
            assert word in text, (generation_id, text)
        assert elapsed < BOUND, (generation_id, elapsed)
        # The same server, the same session: still serving.
        ok = await client.call_tool("extract_generation_id", {"payload": CHAT_ID})
        assert not ok.is_error


async def test_connection_refused(http_server_factory: StartHttp) -> None:
    url, _ = http_server_factory(server_env(f"http://127.0.0.1:{free_port()}", **FAST_FAIL))
    await assert_fails_cleanly(url, CHAT_ID, "Could not reach KushRouter")


async def test_reset_mid_body_and_a_body_slower_than_the_timeout(
    broken_peer: BrokenPeer, http_server_factory: StartHttp
) -> None:
    url, _ = http_server_factory(server_env(f"http://127.0.0.1:{broken_peer.port}", **FAST_FAIL))
    await assert_fails_cleanly(url, "chatcmpl-reset-mid-body", "KushRouter")
    await assert_fails_cleanly(url, "chatcmpl-slow-body", "did not answer within 2 s")


@pytest.mark.parametrize(
    ("generation_id", "words"),
    [
        ("sandbox-malformed-json", ["not JSON"]),
        ("sandbox-success-false", ["Generation lookup failed"]),
        ("sandbox-redirect-loop", ["redirect"]),
        ("sandbox-wrong-shape", ["KushRouter"]),
        ("sandbox-html", ["KUSHROUTER_BASE_URL"]),
        ("sandbox-status-503", ["503"]),
    ],
)
async def test_bad_answers_from_the_sandbox(
    sandbox_server: str, generation_id: str, words: list[str]
) -> None:
    await assert_fails_cleanly(sandbox_server, generation_id, *words)


async def test_a_base_url_with_a_wrong_path_is_named_and_not_polled(
    sandbox: RunningSandbox, http_server_factory: StartHttp
) -> None:
    # (A trailing /api/v1 is understood by the settings; any other stray path reaches a route
    # that answers the 404 of a web server, not KushRouter's "generation not found".)
    url, _ = http_server_factory(server_env(f"{sandbox.base_url}/v2", **FAST_FAIL))
    async with Client(url) as client:
        started = time.monotonic()
        result = await client.call_tool("get_generation", {"id": CHAT_ID, "wait_seconds": 30})
        batch = await client.call_tool("get_generations", {"ids": [CHAT_ID], "wait_seconds": 30})
        elapsed = time.monotonic() - started
    assert result.is_error and "KUSHROUTER_BASE_URL is probably wrong" in result.content[0].text
    assert batch.structured_content["results"][0]["error"]["kind"] == "bad_response"
    assert elapsed < BOUND, "a wrong base URL is told at once, not polled for 30 s"
    assert len(sandbox.state.requests) == 2
