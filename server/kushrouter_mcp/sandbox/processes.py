"""Servers as child processes, one implementation for the tests, the benches, the CI checks and the demo.

A free loopback port, waiting for a port (a process that exits first is reported at once, with
its log), a clean environment, start and stop (the whole process group for a process started in
its own), and the sandbox started as `kushrouter-mcp sandbox`. Loopback only; standard library
only, so a CI script that imports it pays for nothing else.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

LOOPBACK = "127.0.0.1"
STOP_TIMEOUT = 10.0  # seconds a process gets to exit on SIGTERM before SIGKILL
START_TIMEOUT = 20.0  # seconds a server gets to listen
# Inherited when set: a machine whose trust store is not the default still verifies TLS, and a
# checkout run with PYTHONPATH=server (a worktree beside an editable install of another) starts
# servers of its own code, not the installed one.
# XDG_DATA_HOME: where a client keeps user data, so where the ledger goes by default.
_INHERITED = ("SSL_CERT_FILE", "SSL_CERT_DIR", "PYTHONPATH", "XDG_DATA_HOME")


class ProcessDidNotStart(RuntimeError):
    """A server process exited, or did not listen, before it was ready; the message says which."""


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def clean_env(settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """PATH, the TLS trust settings, PYTHONPATH and XDG_DATA_HOME if set, and the settings given:
    nothing else.

    A client starts a server this way, so a proxy or a KUSHROUTER_* variable of the machine running
    the tests can't change what they see.
    """
    inherited = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    return {"PATH": os.environ.get("PATH", ""), **inherited, **(settings or {})}


def server_env(base_url: str, api_key: str | None, **settings: str) -> dict[str, str]:
    """What an MCP client gives the server: clean_env with the upstream, the key (None: none), settings."""
    env = clean_env({"KUSHROUTER_BASE_URL": base_url, **settings})
    if api_key is not None:
        env["KUSHROUTER_API_KEY"] = api_key
    return env


def kushrouter_command(*args: str, executable: str | None = None) -> list[str]:
    """`kushrouter-mcp ARGS`: the given executable, or this Python's `-m kushrouter_mcp`."""
    return [executable, *args] if executable else [sys.executable, "-m", "kushrouter_mcp", *args]


def listening(port: int) -> bool:
    """Whether something accepts connections on the loopback port."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for_port(
    port: int, process: subprocess.Popen[Any], timeout: float = START_TIMEOUT, what: str = "the server"
) -> None:
    """Return once something listens on the loopback `port`; raise ProcessDidNotStart if `process`
    exits first or nothing listens within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not listening(port):
        if process.poll() is not None:
            raise ProcessDidNotStart(f"{what} exited with code {process.returncode} before listening")
        if time.monotonic() > deadline:
            raise ProcessDidNotStart(f"{what} did not listen on {LOOPBACK}:{port} within {timeout:.0f} s")
        time.sleep(0.05)


def stop_process(
    process: subprocess.Popen[Any] | None, timeout: float = STOP_TIMEOUT, *, group: bool = False
) -> int | None:
    """SIGTERM, then SIGKILL if it ignores it for `timeout` seconds; its exit code (None: no process).

    `group`: the process was started in a session of its own, and everything in its group is
    signalled, so nothing it started (a stdio server, workers) outlives it.
    """
    if process is None:
        return None
    if process.poll() is None:
        _signal(process, signal.SIGTERM, group)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL, group)
            process.wait(timeout=timeout)
    elif group:
        _signal(process, signal.SIGKILL, group)  # the leader is gone: nothing of its group lingers
    return process.returncode


def _signal(process: subprocess.Popen[Any], signum: int, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)


@dataclass
class StartedProcess:
    """A process started here; `own_group`: in a session of its own (see stop_process)."""

    process: subprocess.Popen[Any]
    own_group: bool

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        return stop_process(self.process, timeout, group=self.own_group)


@dataclass
class ServerProcess(StartedProcess):
    """A server process listening on a loopback port, its output in a log file."""

    port: int
    log: Path

    @property
    def url(self) -> str:
        """Its streamable HTTP endpoint."""
        return f"http://{LOOPBACK}:{self.port}/mcp"

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-limit:]
        except OSError:
            return ""


def start_server(
    argv: Sequence[str],
    port: int,
    env: Mapping[str, str],
    log: Path,
    *,
    timeout: float = START_TIMEOUT,
    own_group: bool = False,
    cwd: Path | None = None,
) -> ServerProcess:
    """`argv` with `clean_env(env)`, stdin closed, stdout and stderr into `log`, returned listening on `port`.

    Raises ProcessDidNotStart, the process stopped and the log's tail in the message, if it
    exits or stays deaf first. `own_group` starts it in a session of its own (see stop_process).
    """
    with log.open("wb") as sink:
        process = subprocess.Popen(  # noqa: S603 - an argv from the caller, no shell
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=clean_env(env),
            cwd=cwd,
            start_new_session=own_group,
        )
    server = ServerProcess(process, own_group, port, log)
    try:
        wait_for_port(port, process, timeout, what=" ".join(argv))
    except ProcessDidNotStart as failure:
        server.stop()
        raise ProcessDidNotStart(f"{failure}; its output:\n{server.log_tail()}") from None
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def running_server(
    argv: Sequence[str],
    port: int,
    env: Mapping[str, str],
    log: Path | None = None,
    *,
    stop_timeout: float = STOP_TIMEOUT,
    **options: Any,
) -> Iterator[ServerProcess]:
    """start_server for the `with` block, stopped after; with no `log`, one in a scratch folder."""
    with contextlib.ExitStack() as stack:
        if log is None:
            log = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kushrouter-server-"))) / "log"
        server = start_server(argv, port, env, log, **options)
        stack.callback(server.stop, stop_timeout)
        yield server


@dataclass
class SandboxProcess(StartedProcess):
    """`kushrouter-mcp sandbox` in a process of its own: its base URL and the key it accepts."""

    base_url: str
    api_key: str


def start_sandbox(
    *args: str,
    executable: str | None = None,
    stderr: Path | None = None,
    timeout: float = 30.0,
    own_group: bool = False,
) -> SandboxProcess:
    """`kushrouter-mcp sandbox --port 0 ARGS` (e.g. `--latency-ms 5`), returned once it listens.

    Its first two stdout lines name the base URL and the key; the rest of its stdout is drained
    for its whole life, so a full pipe never blocks it. Its stderr goes to `stderr` (None: ours).
    Raises ProcessDidNotStart, the process stopped, if it exits or stays silent first.
    """
    with contextlib.ExitStack() as files:
        sink: IO[str] | None = files.enter_context(stderr.open("w")) if stderr else None
        process = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
            kushrouter_command("sandbox", "--port", "0", *args, executable=executable),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=sink,
            env=clean_env(),
            text=True,
            bufsize=1,
            start_new_session=own_group,
        )
    try:
        settings = _banner_settings(process, timeout)
        base_url, api_key = settings["KUSHROUTER_BASE_URL"], settings["KUSHROUTER_API_KEY"]
        sandbox = SandboxProcess(process, own_group, base_url, api_key)
        wait_for_port(int(sandbox.base_url.rpartition(":")[2]), process, timeout, what="the sandbox")
    except BaseException:
        stop_process(process, group=own_group)
        raise
    return sandbox


def _banner_settings(process: subprocess.Popen[str], timeout: float) -> dict[str, str]:
    """The `NAME=value` settings of the sandbox's first two stdout lines, read within `timeout`."""
    lines: queue.Queue[str | None] = queue.Queue()
    stdout = process.stdout
    assert stdout is not None

    def drain() -> None:
        with stdout:  # closed at the end of its output: when the process is gone
            for line in stdout:
                lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, name="sandbox-stdout", daemon=True).start()
    deadline = time.monotonic() + timeout
    first_two: list[str] = []
    while len(first_two) < 2:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            raise ProcessDidNotStart(
                f"the sandbox printed {len(first_two)} of 2 lines in {timeout:.0f} s"
            ) from None
        if line is None:
            process.wait(timeout=STOP_TIMEOUT)
            raise ProcessDidNotStart(f"the sandbox exited with code {process.returncode} before its banner")
        first_two.append(line.rstrip("\r\n"))
    settings = {name: value for name, _, value in (line.partition("=") for line in first_two)}
    if list(settings) != ["KUSHROUTER_BASE_URL", "KUSHROUTER_API_KEY"]:  # names only: the key is a secret
        raise ProcessDidNotStart(f"the sandbox's first lines set {list(settings)}, not its base URL and key")
    return settings


@contextmanager
def running_sandbox(*args: str, **options: Any) -> Iterator[SandboxProcess]:
    """start_sandbox for the `with` block, stopped after."""
    sandbox = start_sandbox(*args, **options)
    try:
        yield sandbox
    finally:
        sandbox.stop()
