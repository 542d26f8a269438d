"""Shared fixtures: the sandbox upstream on real loopback TCP, servers as real subprocesses.

The process helpers live in kushrouter_mcp.sandbox.processes (the benches and CI use them too);
`free_port` and `stop_process` are imported here for the tests that take them from conftest.

No network but loopback: from `pytest_configure` on, an in-process connection to anything but
loopback (127.0.0.0/8, ::1) or a Unix socket raises OSError, and a name lookup of any host but
`localhost` fails at once, before DNS (test_network_guard.py proves both). Subprocesses are out of
its reach: CI runs pytest in a network namespace with only loopback for those.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from pg_cluster import PostgresCluster, require_postgres, running_cluster

# A key shaped like a real one, so a leak would be recognisable anywhere it shows.
LEAK_CANARY = "kr_live_CANARY_5e3b9f0d7a1c2e4b6d8f"

NETWORK_REFUSED = "network disabled in tests: only loopback"
LOCAL_NAMES = frozenset(("localhost", "localhost."))
_UNGUARDED: dict[str, Any] = {}


def is_loopback_host(host: object) -> bool:
    """An address (or `localhost`) that stays on this machine; any other host name is not."""
    if not isinstance(host, str):
        return False
    if host.lower() in LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 scope id is no host
    except ValueError:
        return False  # a name that would need DNS
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _check_address(family: int, address: object) -> None:
    if family == getattr(socket, "AF_UNIX", None):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not is_loopback_host(host):
        raise OSError(f"{NETWORK_REFUSED} (refused {address!r})")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def refuse_network() -> None:
    """Patch the socket module: connections off loopback raise OSError, lookups of real hosts too."""
    if _UNGUARDED:
        return
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex
    create_connection, getaddrinfo = socket.create_connection, socket.getaddrinfo
    _UNGUARDED.update(
        connect=connect, connect_ex=connect_ex, create_connection=create_connection, getaddrinfo=getaddrinfo
    )

    def guarded_connect(self: socket.socket, address: Any) -> None:
        _check_address(self.family, address)
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        _check_address(self.family, address)
        return connect_ex(self, address)

    def guarded_create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        if not is_loopback_host(address[0]):  # refused before the name is looked up
            raise OSError(f"{NETWORK_REFUSED} (refused {address!r})")
        return create_connection(address, *args, **kwargs)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        # No host (a passive bind) and IP literals need no DNS; `connect` judges the address.
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _is_ip_literal(name) and name.lower() not in LOCAL_NAMES:
            raise socket.gaierror(socket.EAI_NONAME, f"{NETWORK_REFUSED} (no lookup of {name!r})")
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign,assignment]
    socket.create_connection = guarded_create_connection  # type: ignore[assignment]
    socket.getaddrinfo = guarded_getaddrinfo


def allow_network() -> None:
    """Undo `refuse_network` (at the end of the session)."""
    if not _UNGUARDED:
        return
    socket.socket.connect = _UNGUARDED["connect"]  # type: ignore[method-assign]
    socket.socket.connect_ex = _UNGUARDED["connect_ex"]  # type: ignore[method-assign]
    socket.create_connection = _UNGUARDED["create_connection"]
    socket.getaddrinfo = _UNGUARDED["getaddrinfo"]
    _UNGUARDED.clear()


def pytest_configure(config: pytest.Config) -> None:
    refuse_network()  # before collection: an import that reached out would be refused too
    # Every server the tests start, in process or not (clean_env passes XDG_DATA_HOME on), keeps its
    # default ledger in a directory of this run, never in the user's own data directory.
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="kushrouter-tests-data-")


def pytest_unconfigure(config: pytest.Config) -> None:
    allow_network()


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


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster for the session (tests/pg_cluster.py); `stop()`/`start()` keep its port."""
    require_postgres()
    with running_cluster() as cluster:
        yield cluster


@dataclass(frozen=True)
class PgDatabase:
    """A fresh database of the session's cluster: its name and a URL with the password."""

    cluster: PostgresCluster
    name: str
    url: str


@pytest.fixture
def pg_database(pg_cluster: PostgresCluster) -> Iterator[PgDatabase]:
    """A new empty database for one test; the cluster is started again if a test left it stopped."""
    if not pg_cluster.running():
        pg_cluster.start()
    name = pg_cluster.create_database()
    yield PgDatabase(pg_cluster, name, pg_cluster.url(name))
    if not pg_cluster.running():
        pg_cluster.start()
