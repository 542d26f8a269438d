"""uvicorn for this server: TCP_NODELAY, bounded connections, a graceful shutdown, worker processes."""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from types import FrameType
from typing import ClassVar, Final

import anyio
import uvicorn
from starlette.types import ASGIApp

from ..face.stopping import stop_calls, stop_due_in
from ..library_internals.http_stack import (
    HookedH11Protocol,
    end_sse_streams,
    forget_captured_signals,
    keep_sse_streams_open_on_exit,
    run_worker_processes,
    server_connections,
    stop_listening,
)
from ..settings.config import HttpSettings, Settings
from ..settings.logs import configure_logging
from .app import CallsInFlight, Serving, http_app

logger = logging.getLogger(__name__)


def _configure_logging(settings: Settings, serving: Serving) -> None:
    """stderr logging for a serving process, with the server's key, the ledger database's password
    and every access token scrubbed."""
    configure_logging(settings.log_level, [*settings.log_secrets(), *serving.http.tokens])


def _worker_app(settings: Settings, serving: Serving) -> ASGIApp:
    """The app factory of a worker process: a fresh interpreter, so its logging and its
    connection limits are set up here too. uvicorn pickles it, settings and all, into each worker.
    """
    _configure_logging(settings, serving)
    ServingProtocol.configure(serving.http)
    return http_app(settings, serving)


def _raw_answer(status: str, message: str, *headers: str) -> bytes:
    """A whole HTTP/1.1 response that closes the connection, with a JSON-RPC error body.

    Written straight to the socket: no request may have been parsed yet, so h11 can't send it.
    """
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": message}})
    head = [
        f"HTTP/1.1 {status}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        *headers,
    ]
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


_HEAD_TIMEOUT_ANSWER = "408 Request Timeout"
_FULL_ANSWER = "503 Service Unavailable"


class ServingProtocol(HookedH11Protocol):
    """uvicorn's h11 protocol with TCP_NODELAY, a deadline for each request head, and a cap on
    open connections.

    TCP_NODELAY: asyncio sets it only on sockets whose proto is IPPROTO_TCP; the socket uvicorn
    binds for worker processes has proto 0, and uvicorn writes a response's head and body
    separately, so each answer would wait ~40 ms for the client's delayed ACK.

    Head deadline: uvicorn's keep-alive timer starts only after a response and stops at the first
    byte received, so a client sending its headers a byte at a time held a connection forever.
    Each connection now has `header_timeout_seconds` from its opening (or from its last response)
    to finish a request head, or is answered 408 and closed.

    Connection cap: at `max_connections`, the connection that has waited longest for its request
    head makes room (real clients send theirs at once, so that is where slow senders are); when
    every connection is busy answering, the new one gets 503 and is closed.
    """

    header_timeout_seconds: ClassVar[float] = HttpSettings().header_timeout_seconds
    max_connections: ClassVar[int] = HttpSettings().max_connections

    _head_deadline: asyncio.TimerHandle | None = None
    _waiting_since: float | None = None  # time.monotonic() since it waits for a request head
    _refusal: bytes | None = None  # the answer to a connection over the cap, once it speaks

    @classmethod
    def configure(cls, limits: HttpSettings) -> None:
        """Set the limits for every connection this process serves (uvicorn makes the instances)."""
        cls.header_timeout_seconds = limits.header_timeout_seconds
        cls.max_connections = limits.max_connections

    def connection_opened(self) -> None:
        sock = self.transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if len(self.open_connections) > self.max_connections and not self._make_room():
            logger.warning("refusing a connection: %d are open, all busy", len(self.open_connections) - 1)
            # Answered once the request arrives: closing before reading it would reset the
            # connection, and the client would see a network error instead of the reason.
            self._refusal = _raw_answer(
                _FULL_ANSWER,
                f"This server has {self.max_connections} connections open, all busy "
                "(KUSHROUTER_MCP_MAX_CONNECTIONS). Try again in a moment.",
                "retry-after: 1",
            )
        self._wait_for_head()

    def data_received(self, data: bytes) -> None:
        if self._refusal is None:
            super().data_received(data)
        elif not self.transport.is_closing():
            self._stop_waiting()
            self.transport.write(self._refusal)
            self.transport.close()

    def _make_room(self) -> bool:
        """Close the connection waiting longest for its request head; False if none is waiting."""
        waiting = [
            other
            for other in self.open_connections
            if other is not self
            and getattr(other, "_waiting_since", None) is not None
            and getattr(other, "_refusal", None) is None
        ]
        if not waiting:
            return False
        oldest: ServingProtocol = min(waiting, key=lambda other: other._waiting_since)
        oldest._answer_and_close(_FULL_ANSWER, "Closed to make room for another connection: send a request.")
        return True

    def _wait_for_head(self) -> None:
        self._stop_waiting()
        self._waiting_since = time.monotonic()
        self._head_deadline = self.event_loop.call_later(self.header_timeout_seconds, self._head_too_late)

    def _stop_waiting(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        self._head_deadline = self._waiting_since = None

    def _head_too_late(self) -> None:
        self._answer_and_close(
            _HEAD_TIMEOUT_ANSWER,
            f"The request head (request line and headers) did not arrive within "
            f"{self.header_timeout_seconds:g} s (KUSHROUTER_MCP_HEADER_TIMEOUT).",
        )

    def _answer_and_close(self, status: str, message: str, *headers: str) -> None:
        self._stop_waiting()
        if not self.transport.is_closing():
            self.transport.write(_raw_answer(status, message, *headers))
            self.transport.close()

    def request_head_received(self) -> None:
        self._stop_waiting()

    def ready_for_next_request(self) -> None:
        self._wait_for_head()

    def connection_closed(self) -> None:
        self._stop_waiting()


def _room_for_connections(limits: HttpSettings) -> HttpSettings:
    """Raise the open-file limit so that the connection cap can be reached, as far as allowed.

    Each connection is a file descriptor; with too low a limit, accept() would fail long before
    the cap and every caller would be refused alike. Where the hard limit is too low, the cap
    comes down to fit, with a warning.
    """
    needed = limits.max_connections + 256  # upstream connections, logs, the listening socket
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return limits
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        target = soft
    if target >= needed:
        return limits
    fitted = max(16, target - 256)
    logger.warning(
        "KUSHROUTER_MCP_MAX_CONNECTIONS=%d is more than the open-file limit (%d) allows; using %d",
        limits.max_connections,
        target,
        fitted,
    )
    return replace(limits, max_connections=fitted)


class GracefulServer(uvicorn.Server):
    """uvicorn's server, with a shutdown that lets in-flight calls finish, answers the ones still
    running at the end of the grace period, and exits 0 within that period.

    Plain uvicorn (through sse-starlette) closes every SSE stream the moment SIGTERM arrives,
    answers to in-flight calls included; it cuts calls still running after the grace period with
    no answer (a closed stream, or HTTP 500) and may wait a second grace period; and it re-raises
    the signal after shutting down, so the process would end with -15 even when all went well.
    """

    stop_signal = signal.SIGTERM  # what stopped the server, for the answers to cut calls

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        keep_sse_streams_open_on_exit()  # shutdown() ends the streams itself

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stop_signal = signal.Signals(sig)
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        stop_listening(self)  # finished keep-alive connections close below
        for connection in server_connections(self):
            connection.shutdown()
        grace = self.config.timeout_graceful_shutdown or 0
        stop_due_in(grace)  # the ledger writes out its queue, at the end, in what is left of it
        if not await _calls_finished_within(grace):
            cut = stop_calls(self.stop_signal.name)
            logger.warning("%d call(s) still running after the %g s grace: answered as cut", cut, grace)
            await _calls_finished_within(ANSWER_SECONDS)
        end_sse_streams()  # now end the idle SSE streams, so their connections close
        # Every call has its answer: uvicorn's own wait (a second grace period) is only for
        # connections that are closing, and whatever is left after a moment is cancelled.
        self.config.timeout_graceful_shutdown = ANSWER_SECONDS
        await super().shutdown(sockets)

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            forget_captured_signals(self)  # a graceful shutdown is a clean exit


# Seconds the answers to calls cut at the end of the grace period get to be written.
ANSWER_SECONDS: Final = 1


async def _calls_finished_within(seconds: float) -> bool:
    """Whether every POST in flight was answered within `seconds`."""
    with anyio.move_on_after(seconds):
        while CallsInFlight.count:  # noqa: ASYNC110 - a counter, polled like uvicorn's own wait
            await anyio.sleep(0.05)
    return not CallsInFlight.count


def serve_http(
    settings: Settings, serving: Serving, listener: socket.socket, workers: int, graceful_seconds: int
) -> None:
    """Serve the app with uvicorn on `listener`, in this process or in `workers` worker processes.

    The caller binds `listener`, so a port in use is answered before anything says "serving".

    On SIGTERM: stop accepting, let in-flight requests finish for up to `graceful_seconds`,
    cancel the rest, close, exit 0.
    """
    _configure_logging(settings, serving)
    serving = replace(serving, http=_room_for_connections(serving.http))
    ServingProtocol.configure(serving.http)
    single = workers == 1
    config = uvicorn.Config(
        http_app(settings, serving) if single else partial(_worker_app, settings, serving),
        factory=not single,
        host=serving.host,
        port=listener.getsockname()[1],
        workers=workers,
        http=ServingProtocol,
        log_config=None,  # keep our stderr handler; uvicorn's default would log access to stdout
        access_log=False,
        log_level=settings.log_level.lower(),
        lifespan="on",
        timeout_graceful_shutdown=graceful_seconds,
        # uvicorn restarts a worker that is not serving within this; importing the SDK on a
        # busy machine can take longer than its default 5 s, and the restarts then never end.
        timeout_worker_healthcheck=30,
    )
    if single:
        GracefulServer(config).run(sockets=[listener])
        return
    # The parent forwards SIGTERM to the workers, waits for their graceful shutdowns, and returns.
    run_worker_processes(config, listener, GracefulServer)
