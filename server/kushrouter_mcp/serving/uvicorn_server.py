"""uvicorn for this server: TCP_NODELAY, a graceful shutdown that lets calls finish, worker processes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import anyio
import uvicorn
from sse_starlette.sse import AppStatus
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..settings.config import Settings
from ..settings.logs import configure_logging
from .app import CallsInFlight, Serving, http_app


def _configure_logging(settings: Settings, serving: Serving) -> None:
    """stderr logging for a serving process, with the server's key and every access token scrubbed."""
    key = [settings.api_key.reveal()] if settings.api_key else []
    configure_logging(settings.log_level, [*key, *serving.http.tokens])


def _worker_app(settings: Settings, serving: Serving) -> ASGIApp:
    """The app factory of a worker process: a fresh interpreter, so its logging is set up here too.

    uvicorn pickles it, settings and all, into each worker it spawns.
    """
    _configure_logging(settings, serving)
    return http_app(settings, serving)


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with TCP_NODELAY on.

    asyncio sets it only on sockets whose proto is IPPROTO_TCP; the socket uvicorn binds for
    worker processes has proto 0, and uvicorn writes a response's head and body separately, so
    each answer would wait ~40 ms for the client's delayed ACK.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


class GracefulServer(uvicorn.Server):
    """uvicorn's server, with a shutdown that lets in-flight calls finish and then exits 0.

    Plain uvicorn (through sse-starlette) closes every SSE stream the moment SIGTERM arrives,
    answers to in-flight calls included; and it re-raises the signal after shutting down, so
    the process would end with -15 even when everything went well.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        AppStatus.enable_automatic_graceful_drain = False  # shutdown() ends the streams itself

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:  # stop accepting; finished keep-alive connections close
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        with anyio.move_on_after(self.config.timeout_graceful_shutdown or 0):
            while CallsInFlight.count:  # noqa: ASYNC110 - polled like uvicorn's own wait below
                await anyio.sleep(0.05)
        AppStatus.should_exit = True  # now end the idle SSE streams, so their connections close
        await super().shutdown(sockets)

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()  # a graceful shutdown is a clean exit


def serve_http(
    settings: Settings, serving: Serving, listener: socket.socket, workers: int, graceful_seconds: int
) -> None:
    """Serve the app with uvicorn on `listener`, in this process or in `workers` worker processes.

    The caller binds `listener`, so a port in use is answered before anything says "serving".

    On SIGTERM: stop accepting, let in-flight requests finish for up to `graceful_seconds`,
    cancel the rest, close, exit 0.
    """
    from uvicorn.supervisors.multiprocess import Multiprocess

    _configure_logging(settings, serving)
    single = workers == 1
    config = uvicorn.Config(
        http_app(settings, serving) if single else partial(_worker_app, settings, serving),
        factory=not single,
        host=serving.host,
        port=listener.getsockname()[1],
        workers=workers,
        http=NoDelayH11Protocol,
        log_config=None,  # keep our stderr handler; uvicorn's default would log access to stdout
        access_log=False,
        log_level=settings.log_level.lower(),
        lifespan="on",
        timeout_graceful_shutdown=graceful_seconds,
    )
    if single:
        GracefulServer(config).run(sockets=[listener])
        return
    # The parent forwards SIGTERM to the workers, waits for their graceful shutdowns, and returns.
    Multiprocess(config, sockets=[listener]).run()
