"""Helpers for tests that talk to a real HTTP server process: clients with headers, raw JSON-RPC."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import start_http_server
from kushrouter_mcp.sandbox.api import ReceivedRequest
from kushrouter_mcp.sandbox.processes import stop_process
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.serving.callers import KEY_CHECK_ID

StartHttp = Callable[..., tuple[str, Path]]
MODERN = "2026-07-28"
MODES = ["legacy", MODERN]
# A token shaped so that a leak would be recognisable anywhere it shows.
TOKEN = "tok_CANARY_9d2f6b1e8a4c7f3b5e0d"
OTHER_TOKEN = "tok_other_1a2b3c4d5e6f7a8b9c0d"
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


async def wait_exit(process: subprocess.Popen[bytes], signum: int = signal.SIGTERM) -> int:
    process.send_signal(signum)
    return await anyio.to_thread.run_sync(lambda: process.wait(timeout=30))


@asynccontextmanager
async def bearer_client(url: str, bearer: str | None, mode: str = "legacy") -> AsyncIterator[Client]:
    """An MCP client that sends `Authorization: Bearer <bearer>` on every request."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


def rpc(method: str, params: dict[str, Any] | None = None, request_id: int = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def initialize(request_id: int = 1) -> dict[str, Any]:
    return rpc(
        "initialize",
        {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        request_id,
    )


async def raw_post(
    http: httpx.AsyncClient, url: str, body: bytes | dict[str, Any] | list[Any], **headers: str
) -> httpx.Response:
    content = body if isinstance(body, bytes) else httpx.Request("POST", url, json=body).content
    return await http.post(url, content=content, headers={**JSON_HEADERS, **headers})


@contextmanager
def running_server(env: dict[str, str], log_dir: Path, *args: str) -> Iterator[tuple[str, Path]]:
    """One `kushrouter-mcp --transport http` process for a whole module: (url, its log file)."""
    process, port, log = start_http_server(env, log_dir, *args)
    try:
        yield f"http://127.0.0.1:{port}/mcp", log
    finally:
        stop_process(process)


def lookups(sandbox: RunningSandbox) -> list[ReceivedRequest]:
    """The generation lookups the sandbox received, leaving out per-request mode's key checks."""
    return [r for r in sandbox.state.requests if r.query != [("id", KEY_CHECK_ID)]]


def key_checks(sandbox: RunningSandbox) -> list[ReceivedRequest]:
    return [r for r in sandbox.state.requests if r.query == [("id", KEY_CHECK_ID)]]
