"""No test touches the network: only loopback and Unix sockets are reachable.

In process, conftest's guard refuses every connection off loopback and every name lookup but
`localhost`, before any packet or DNS query leaves. Subprocesses (servers, the CLI) are out of its
reach; CI runs pytest in a network namespace with only loopback (KUSHROUTER_TESTS_NETNS=1), and
then a fresh interpreter is shown to be unable to leave the machine either.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import NETWORK_REFUSED

OFF_LOOPBACK = ("192.0.2.1", 80)  # TEST-NET-1: routable nowhere, so nothing real is ever reached
QUICK = 0.5  # seconds: refused at once, not after a connect timeout


@pytest.fixture
def listener() -> Iterator[tuple[str, int]]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()


def refused_quickly(attempt: Callable[[], object]) -> OSError:
    started = time.monotonic()
    with pytest.raises(OSError, match=NETWORK_REFUSED) as caught:
        attempt()
    assert time.monotonic() - started < QUICK
    return caught.value


def test_a_connection_off_loopback_is_refused_at_once() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)  # without the guard: a timeout after 5 s, not the guard's message
        refused_quickly(lambda: sock.connect(OFF_LOOPBACK))
        refused_quickly(lambda: sock.connect_ex(OFF_LOOPBACK))
    refused_quickly(lambda: socket.create_connection(OFF_LOOPBACK, timeout=5))


def test_a_name_lookup_of_a_real_host_fails_before_dns() -> None:
    error = refused_quickly(lambda: socket.getaddrinfo("example.com", 443))
    assert isinstance(error, socket.gaierror)  # what code that handles an unknown host catches
    refused_quickly(lambda: socket.create_connection(("example.com", 443), timeout=5))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        refused_quickly(lambda: sock.connect(("example.com", 443)))


def test_the_event_loop_is_refused_too() -> None:
    """httpx and the MCP client connect through asyncio (anyio): the same guard applies."""

    async def connect() -> None:
        await asyncio.wait_for(asyncio.open_connection(*OFF_LOOPBACK), 5)

    refused_quickly(lambda: asyncio.run(connect()))
    refused_quickly(lambda: asyncio.run(asyncio.wait_for(asyncio.open_connection("example.com", 80), 5)))


def test_loopback_stays_reachable(listener: tuple[str, int]) -> None:
    host, port = listener
    with socket.create_connection((host, port), timeout=5):
        pass
    with socket.create_connection(("localhost", port), timeout=5):
        pass  # `localhost` is looked up (no DNS: the hosts file)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert sock.connect_ex(("127.0.0.1", port)) == 0
    assert socket.getaddrinfo("127.0.0.1", port)  # an address needs no DNS: never refused
    assert socket.getaddrinfo(None, port, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)


def test_ipv6_loopback_stays_reachable() -> None:
    try:
        server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        server.bind(("::1", 0))
    except OSError:  # no IPv6 on this machine: only the refusal below is checked
        server = None
    if server is not None:
        with server:
            server.listen()
            with socket.create_connection(("::1", server.getsockname()[1]), timeout=5):
                pass
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        refused_quickly(lambda: sock.connect(("2001:db8::1", 80)))  # documentation prefix


def test_unix_sockets_stay_reachable(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)
            accepted, _ = server.accept()
            with accepted:
                client.sendall(b"ping")
                assert accepted.recv(4) == b"ping"


PROBE = """
import errno, json, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
with socket.create_connection((host, port), timeout=2):
    pass
sock = socket.socket()
sock.settimeout(2)
started = time.monotonic()
try:
    sock.connect(("192.0.2.1", 80))
    outcome = None
except OSError as error:
    outcome = error.errno
print(json.dumps({"errno": outcome, "seconds": time.monotonic() - started}))
"""


def test_a_subprocess_can_not_leave_loopback_in_the_ci_namespace(listener: tuple[str, int]) -> None:
    """Always: the in-process guard holds. In CI's namespace: a fresh interpreter can't get out either."""
    refused_quickly(lambda: socket.create_connection(OFF_LOOPBACK, timeout=5))
    if os.environ.get("KUSHROUTER_TESTS_NETNS") != "1":
        return
    host, port = listener
    done = subprocess.run(
        [sys.executable, "-c", PROBE, host, str(port)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr  # it reached loopback: lo is up in the namespace
    outcome = json.loads(done.stdout)
    # No route at all: refused at once. A timeout (None after 2 s) would mean a route out exists.
    assert outcome["errno"] in (errno.ENETUNREACH, errno.EHOSTUNREACH), outcome
    assert outcome["seconds"] < 1, outcome
