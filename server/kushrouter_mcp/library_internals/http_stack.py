"""uvicorn, sse-starlette and the MCP SDK's session manager, for serving/ and sandbox/ (see the
package docstring)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from typing import Any

import uvicorn
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from sse_starlette.sse import AppStatus
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import multiprocess

# ==== HTTP serving: uvicorn, sse-starlette and the SDK's session manager, for serving/ and sandbox/ ==
# uvicorn, sse-starlette and the MCP SDK offer no public hook for what HTTP serving needs (TCP_NODELAY
# on worker sockets, a timeout for a request head, the open connections, a clean exit after a
# graceful shutdown, the sessions a caller holds). Only serving and the sandbox use these.


class HookedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the hooks this project's servers override.

    Private uvicorn state used: `connection_made` taking the transport, `handle_events` starting a
    request cycle in `cycle`, `on_response_complete`, `app_state` (copied into each request's
    scope["state"]), `access_log`, `connections` (the server's shared set of open connections)
    and `loop`.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(self.adopt(transport))
        self.connection_opened()

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:  # h11 has parsed a complete request head
            self.request_head_received()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self.ready_for_next_request()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.connection_closed()

    # --- Hooks (no-ops here) ----------------------------------------------------------------------

    def adopt(self, transport: asyncio.Transport) -> asyncio.Transport:
        """The transport the protocol will write to: `transport` itself or a wrapper of it."""
        return transport

    def connection_opened(self) -> None:
        """The connection is registered in `open_connections`."""

    def request_head_received(self) -> None:
        """A request's line and headers have all arrived; its body may still be coming."""

    def ready_for_next_request(self) -> None:
        """A response has been sent and the connection stays open for another request."""

    def connection_closed(self) -> None:
        """The connection is gone."""

    # --- Accessors ---------------------------------------------------------------------------------

    @property
    def event_loop(self) -> asyncio.AbstractEventLoop:
        return self.loop

    @property
    def open_connections(self) -> set[Any]:
        """Every open connection of this server (this one included once opened)."""
        connections: set[Any] = self.connections
        return connections

    @property
    def is_answering(self) -> bool:
        """A request is being answered on this connection now."""
        return self.cycle is not None and not self.cycle.response_complete

    def add_request_state(self, name: str, value: object) -> None:
        """Put `value` into scope["state"] of every request on this connection."""
        self.app_state = {**self.app_state, name: value}

    def silence_access_log(self) -> None:
        # uvicorn decides access logging from the global logger's handlers; stay quiet per protocol
        # instead of emptying that global logger (stdout may be an MCP channel).
        self.access_log = False


def server_connections(server: uvicorn.Server) -> list[Any]:
    """The server's open connections (uvicorn protocol instances: each has shutdown())."""
    return list(server.server_state.connections)


def stop_listening(server: uvicorn.Server) -> None:
    """Close the server's listening sockets: no new connections, open ones stay."""
    for listener in server.servers:
        listener.close()


def forget_captured_signals(server: uvicorn.Server) -> None:
    """uvicorn re-raises the signals it caught once it has shut down (the process then ends with
    -15); after a graceful shutdown the exit is clean, so forget them."""
    server._captured_signals.clear()


def keep_sse_streams_open_on_exit() -> None:
    """sse-starlette ends every SSE stream the moment uvicorn's exit flag is set, answers to calls
    still running included; the graceful shutdown ends them itself (`end_sse_streams`)."""
    AppStatus.enable_automatic_graceful_drain = False


def end_sse_streams() -> None:
    AppStatus.should_exit = True


class _WorkerProcess(multiprocess.Process):
    """uvicorn's worker process, running `server_class` where uvicorn runs a plain Server.

    The class is set on each instance, so it travels with the pickled process into the worker.
    """

    server_class: type[uvicorn.Server] = uvicorn.Server

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.server_class = type(self).server_class

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = self.server_class(config=self.config)
        return self._server


def run_worker_processes(
    config: uvicorn.Config, listener: socket.socket, server_class: type[uvicorn.Server]
) -> None:
    """uvicorn's own supervisor, with each worker running `server_class` (a graceful shutdown of
    our own): it forwards SIGTERM to the workers and waits for their shutdowns. uvicorn creates its
    workers through its module's `Process` name, with no hook to choose the server."""
    _WorkerProcess.server_class = server_class
    multiprocess.Process = _WorkerProcess  # type: ignore[misc]  # this process only supervises
    multiprocess.Multiprocess(config, sockets=[listener]).run()


def session_owners(manager: StreamableHTTPSessionManager) -> Iterable[str]:
    """The principal (client_id) that opened each open stateful session."""
    return [owner["client_id"] for owner in manager._session_owners.values()]


def is_session_era(protocol_version_header: str | None) -> bool:
    """Whether the SDK serves a request with this MCP-Protocol-Version header (None: none sent) on
    its session-based (initialize handshake) path; the newer versions have no sessions."""
    return protocol_version_header is None or protocol_version_header in HANDSHAKE_PROTOCOL_VERSIONS
