"""Shared fixtures: the sandbox upstream on real loopback TCP, servers as real subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    """The environment a client would give the server: only what it needs."""
    env = {"PATH": os.environ.get("PATH", ""), "KUSHROUTER_BASE_URL": base_url, **extra}
    if api_key is not None:
        env["KUSHROUTER_API_KEY"] = api_key
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")


def start_http_server(
    env: dict[str, str], log_dir: Path, *args: str
) -> tuple[subprocess.Popen[bytes], int, Path]:
    """`kushrouter-mcp --transport http` on a free port, listening; output goes to a log file to inspect."""
    port = free_port()
    log = log_dir / f"http-server-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "kushrouter_mcp", "--transport", "http", "--port", str(port), *args],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process)
    except BaseException:
        stop_process(process)
        raise
    return process, port, log


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
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
