"""Running the sandbox: on a loopback port in a thread (tests, demo) or in the foreground (CLI).

The project's tests, its demo and offline users point the MCP server at it through
``KUSHROUTER_BASE_URL``. It serves fake seeded records only and binds loopback addresses only.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Final

import uvicorn

from .api import CANNED_ANSWERS, ERROR_MESSAGES, SandboxProtocol, SandboxState, create_app
from .samples import ALICE_KEY, API_KEY_IDS, BOB_KEY, SEED_RECORDS


def _check_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the sandbox binds loopback IP addresses only (127.0.0.1, ::1), not {host!r}")


_STARTUP_TIMEOUT: Final = 10.0


class RunningSandbox:
    """A sandbox served by uvicorn from a background thread (its own event loop) on loopback TCP."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state: SandboxState | None = None) -> None:
        _check_loopback(host)
        self.state = state or SandboxState()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # Bound here, so the real port is known before uvicorn starts.
        self._socket = socket.create_server((host, port), family=family)
        self.port: int = self._socket.getsockname()[1]
        self.base_url = f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"
        config = uvicorn.Config(
            create_app(self.state),
            http=SandboxProtocol,
            ws="none",
            lifespan="off",
            loop="asyncio",
            log_config=None,  # leave the process's logging configuration alone
            timeout_graceful_shutdown=1,  # backstop: close() never waits long for a handler
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"kushrouter-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._wait_started()

    def _wait_started(self) -> None:
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.002)

    def close(self) -> None:
        """Stop serving and wait for the server thread to end."""
        self._server.should_exit = True
        self._thread.join()
        self._socket.close()


@contextmanager
def run_sandbox(
    host: str = "127.0.0.1", port: int = 0, state: SandboxState | None = None
) -> Iterator[RunningSandbox]:
    """Serve the sandbox on loopback for the duration of the `with` block (port 0: a free port)."""
    sandbox = RunningSandbox(host, port, state)
    try:
        yield sandbox
    finally:
        sandbox.close()


def _banner(sandbox: RunningSandbox, ledger: Path) -> str:
    owners = {api_key_id: owner for owner, api_key_id in API_KEY_IDS.items()}
    seeded = "\n".join(
        f"  {gen_id}  {record['endpoint']}  (owner {owners[record['apiKeyId']]})"
        for gen_id, record in SEED_RECORDS.items()
    )
    codes = " ".join(str(code) for code in ERROR_MESSAGES)
    return f"""KUSHROUTER_BASE_URL={sandbox.base_url}
KUSHROUTER_API_KEY={ALICE_KEY}

KushRouter sandbox (fake data, loopback only) at {sandbox.base_url}. Ctrl-C to stop.
Keys:
  alice  {ALICE_KEY}
  bob    {BOB_KEY}
Seeded generations:
{seeded}
Fault ids (any valid key):
  sandbox-status-<code>  code: {codes}
  {"  ".join(CANNED_ANSWERS)}
  sandbox-slow-<seconds>  sandbox-redirect-loop  sandbox-reset
Control: GET /_sandbox/requests, /_sandbox/health; POST /_sandbox/faults, /_sandbox/latency,
  /_sandbox/records (a record that appears later), /_sandbox/storm (429s for a while), /_sandbox/reset
Point the MCP server at it:
  export KUSHROUTER_BASE_URL={sandbox.base_url}
  export KUSHROUTER_API_KEY={ALICE_KEY}
and keep its lookups out of your own usage ledger, in a throwaway one removed when the sandbox stops:
  export KUSHROUTER_MCP_LEDGER={ledger}"""


@contextmanager
def _stop_event_on_signals() -> Iterator[threading.Event]:
    """An Event set by SIGINT/SIGTERM while the block runs; previous handlers restored after."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve_forever(host: str, port: int, latency_seconds: float = 0.0) -> int:
    """Serve in the foreground until SIGINT/SIGTERM (CLI `kushrouter-mcp sandbox`); returns 0.

    The first two stdout lines are `KUSHROUTER_BASE_URL=...` and `KUSHROUTER_API_KEY=...`; the
    banner also suggests a throwaway ledger, in a directory made for this run and removed after it.
    Call it from the main thread (it installs signal handlers); a non-loopback host raises ValueError.
    """
    state = SandboxState()
    state.latency_seconds = latency_seconds
    # uvicorn runs in a thread: in the main thread it would re-raise the caught signal on exit.
    with (
        _stop_event_on_signals() as stop,
        run_sandbox(host, port, state) as sandbox,
        # A directory of its own (0700, an unguessable name): no one else can plant a file there.
        tempfile.TemporaryDirectory(prefix="kushrouter-mcp-sandbox-", ignore_cleanup_errors=True) as scratch,
    ):
        print(_banner(sandbox, Path(scratch) / "ledger.sqlite3"), flush=True)
        stop.wait()
    return 0
