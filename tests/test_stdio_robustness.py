"""The stdio server under abuse, as a real `python -m kushrouter_mcp` process over real pipes.

Every line that can't be handled gets a JSON-RPC error answer (a client must never wait forever),
and SIGINT/SIGTERM stop the server promptly while stdin stays open, answering calls in flight.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import server_env
from http_helpers import initialize, rpc
from kushrouter_mcp.face.stdio import top_level_id
from kushrouter_mcp.sandbox.runner import RunningSandbox

INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def nested_call(depth: int, request_id: int) -> str:
    """A tools/call whose arguments nest `depth` arrays deep, the id written after them."""
    arguments = '{"payload":' + "[" * depth + "]" * depth + "}"
    return (
        '{"jsonrpc":"2.0","method":"tools/call","params":{"name":"extract_generation_id",'
        f'"arguments":{arguments}}},"id":{request_id}}}'
    )


class StdioServer:
    """A server process; its stdout lines are collected by a thread so reads can time out."""

    def __init__(self, env: dict[str, str], stderr_log: Path) -> None:
        self._stderr = stderr_log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kushrouter_mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        self.stderr_log = stderr_log
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def send(self, message: dict[str, Any] | str) -> None:
        line = message if isinstance(message, str) else json.dumps(message)
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def answer(self, timeout: float = 1.0) -> dict[str, Any]:
        """The next stdout line, parsed; fails if none comes within `timeout` seconds."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no answer within {timeout} s")
        message: dict[str, Any] = json.loads(line)
        return message

    def initialize(self) -> None:
        self.send(initialize())
        assert self.answer(timeout=20)["id"] == 1  # start-up included
        self.send(INITIALIZED)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        self._stderr.close()


@contextmanager
def initialized_server(sandbox: RunningSandbox, stderr_log: Path) -> Iterator[StdioServer]:
    server = StdioServer(server_env(sandbox.base_url), stderr_log)
    try:
        server.initialize()
        yield server
    finally:
        server.close()


@pytest.fixture
def stdio_server(sandbox: RunningSandbox, tmp_path: Path) -> Iterator[StdioServer]:
    with initialized_server(sandbox, tmp_path / "stderr.log") as server:
        yield server


@pytest.fixture(scope="module")
def line_server(
    sandbox_session: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StdioServer]:
    """One server for the tests that only send lines: each leaves it as it found it."""
    with initialized_server(sandbox_session, tmp_path_factory.mktemp("lines") / "stderr.log") as server:
        yield server


def error_of(answer: dict[str, Any]) -> tuple[object, int]:
    assert set(answer) == {"jsonrpc", "id", "error"}, answer
    return answer["id"], answer["error"]["code"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(nested_call(300, 7), (7, PARSE_ERROR), id="300-deep-request"),
        pytest.param(nested_call(100_000, 8), (8, PARSE_ERROR), id="100000-deep-request"),
        pytest.param("garbage", (None, PARSE_ERROR), id="not-json"),
        pytest.param('{"jsonrpc":"2.0","id":5,"method":"ping"', (5, PARSE_ERROR), id="cut-short"),
        pytest.param('{"foo": 1}', (None, INVALID_REQUEST), id="json-not-a-request"),
        pytest.param("42", (None, INVALID_REQUEST), id="json-number"),
        pytest.param(
            '{"jsonrpc":"2.0","id":9,"method":"x","params":1}', (9, INVALID_REQUEST), id="bad-params"
        ),
        pytest.param('{"jsonrpc":"1.0","id":"a","method":"ping"}', ("a", INVALID_REQUEST), id="version"),
        pytest.param('{"jsonrpc":"2.0","id":1.5,"method":"ping"}', (None, INVALID_REQUEST), id="float-id"),
        pytest.param('{"jsonrpc":"2.0","id":null,"method":"ping"}', (None, INVALID_REQUEST), id="null-id"),
        pytest.param('{"jsonrpc":"2.0","method":1}', (None, INVALID_REQUEST), id="method-not-a-string"),
        pytest.param('[{"jsonrpc":"2.0","id":3,"method":"ping"}]', (None, INVALID_REQUEST), id="batch"),
        pytest.param("[]", (None, INVALID_REQUEST), id="empty-batch"),
    ],
)
def test_an_unreadable_line_gets_an_error_answer_and_serving_goes_on(
    line_server: StdioServer, line: str, expected: tuple[object, int]
) -> None:
    line_server.send(line)
    assert error_of(line_server.answer()) == expected
    line_server.send(rpc("tools/list", request_id=10))
    answer = line_server.answer()
    assert answer["id"] == 10
    assert {tool["name"] for tool in answer["result"]["tools"]} >= {"get_generation"}


def test_all_unreadable_lines_in_one_stream_answer_in_order(line_server: StdioServer) -> None:
    """The issue's sequence: deep request, garbage, a non-request, then a normal call."""
    for line in (nested_call(300, 7), "garbage", '{"foo": 1}'):
        line_server.send(line)
    answers = [error_of(line_server.answer()) for _ in range(3)]
    assert answers == [(7, PARSE_ERROR), (None, PARSE_ERROR), (None, INVALID_REQUEST)]
    line_server.send(rpc("tools/list", request_id=10))
    assert "result" in line_server.answer()


@pytest.mark.parametrize(
    "line",
    [
        pytest.param('{"jsonrpc":"2.0","method":"notifications/x","params":[1]}', id="notification"),
        pytest.param('{"jsonrpc":"2.0","id":2,"result":"x"}', id="response"),
        pytest.param("   ", id="blank"),
    ],
)
def test_a_notification_response_or_blank_line_gets_no_answer(line_server: StdioServer, line: str) -> None:
    """JSON-RPC 2.0: a notification is never answered, not even when the server can't take it."""
    line_server.send(line)
    line_server.send(rpc("ping", request_id=10))
    assert line_server.answer() == {"jsonrpc": "2.0", "id": 10, "result": {}}


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_a_signal_stops_the_server_promptly_and_answers_calls_in_flight(
    sandbox: RunningSandbox, stdio_server: StdioServer, signum: int, exit_code: int
) -> None:
    call = {"name": "get_generation", "arguments": {"id": "sandbox-slow-30"}}
    stdio_server.send(rpc("tools/call", call, request_id=5))
    deadline = time.monotonic() + 10
    while sandbox.state.request_count == 0:  # the lookup is under way upstream
        assert time.monotonic() < deadline, "the lookup never reached the sandbox"
        time.sleep(0.02)
    signalled = time.monotonic()
    stdio_server.process.send_signal(signum)  # stdin stays open
    returncode = stdio_server.process.wait(timeout=10)
    assert time.monotonic() - signalled < 2
    assert returncode == exit_code
    answer = stdio_server.answer(timeout=0.5)
    assert answer["id"] == 5
    assert "stopping" in answer["error"]["message"]
    assert stdio_server.lines.empty()  # nothing else on stdout
    stderr = stdio_server.stderr_log.read_text()
    assert "Traceback" not in stderr and "Error" not in stderr, stderr


def test_a_signal_while_idle_stops_the_server_quietly(stdio_server: StdioServer) -> None:
    signalled = time.monotonic()
    stdio_server.process.send_signal(signal.SIGTERM)
    assert stdio_server.process.wait(timeout=10) == 0
    assert time.monotonic() - signalled < 2
    time.sleep(0.1)
    assert stdio_server.lines.empty()
    assert stdio_server.stderr_log.read_text() == ""


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"params":{"arguments":{"id":"chatcmpl-x"}},"id":11}', 11),  # a nested id is not the request's
        ('{"a": [ [ {"id":1} ] ] , "id" : 2 }', 2),
        ('{"x":"\\"id\\": 3","id":4}', 4),  # an id inside a string is not one
        ('{"id":"a\\"b"}', 'a"b'),
        ('{"a":"x\\\\","id":-2}', -2),
        ('{"id":5.5}', None),
        ('{"id":true}', None),
        ('{"id":[[[[1]]]]}', None),
        ('[{"id":3}]', None),
        ('{"x":"left open', None),
    ],
)
def test_top_level_id_reads_only_the_top_level(line: str, expected: object) -> None:
    assert top_level_id(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        '{"x":' + "[" * 1_000_000 + "]" * 1_000_000 + ',"id":1}',
        '{"x":' + '"\\' * 500_000,  # quotes left open: no rescan from each of them
    ],
)
def test_top_level_id_is_linear_on_hostile_lines(line: str) -> None:
    started = time.monotonic()
    top_level_id(line)
    assert time.monotonic() - started < 1
