"""Shared fixtures: the sandbox upstream on real loopback TCP, servers as real subprocesses.

The process helpers live in kushrouter_mcp.sandbox.processes (the benches and CI use them too);
`free_port` and `stop_process` are imported here for the tests that take them from conftest.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from kushrouter_mcp.sandbox import processes
from kushrouter_mcp.sandbox.processes import (
    free_port,
    kushrouter_command,
    start_server,
    stop_process,
)
from kushrouter_mcp.sandbox.runner import RunningSandbox, run_sandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY

# A key shaped like a real one, so a leak would be recognisable anywhere it shows.
LEAK_CANARY = "kr_live_CANARY_5e3b9f0d7a1c2e4b6d8f"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[RunningSandbox]:
    with run_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(sandbox_session: RunningSandbox) -> Iterator[RunningSandbox]:
    sandbox_session.state.reset()
    yield sandbox_session
    sandbox_session.state.reset()


def server_env(base_url: str, api_key: str | None = ALICE_KEY, **extra: str) -> dict[str, str]:
    """The environment a client would give the server: only what it needs (Alice's key by default)."""
    return processes.server_env(base_url, api_key, **extra)


def stdio_server(sandbox: RunningSandbox, errlog: Any, api_key: str = ALICE_KEY, **env: str) -> Client:
    """A client of `kushrouter-mcp` run as a real stdio subprocess against `sandbox`."""
    command, *args = kushrouter_command()
    params = StdioServerParameters(
        command=command, args=args, env=server_env(sandbox.base_url, api_key, **env)
    )
    return Client(stdio_client(params, errlog=errlog))


StartProcess = Callable[..., tuple[subprocess.Popen[bytes], int, Path]]


def start_http_server(
    env: dict[str, str], log_dir: Path, *args: str
) -> tuple[subprocess.Popen[bytes], int, Path]:
    """`kushrouter-mcp --transport http` on a free port, listening; output goes to a log file to inspect."""
    port = free_port()
    argv = kushrouter_command("--transport", "http", "--port", str(port), *args)
    server = start_server(argv, port, env, log_dir / f"http-server-{port}.log")
    return server.process, port, server.log


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[StartProcess]:
    """Start a server process to signal; yields (process, port, log file)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[bytes], int, Path]:
        process, port, log = start_http_server(env, tmp_path, *args)
        started.append(process)
        return process, port, log

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture
def http_server_factory(tmp_path: Path) -> Iterator[object]:
    """Start HTTP server processes for one test: (url, log file) each; stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str], *extra_args: str) -> tuple[str, Path]:
        process, port, log = start_http_server(env, tmp_path, *extra_args)
        started.append(process)
        return f"http://127.0.0.1:{port}/mcp", log

    yield start
    for process in started:
        stop_process(process)
