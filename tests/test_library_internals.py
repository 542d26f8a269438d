"""What library_internals reaches into still exists: an upgrade that moves it fails here, loudly."""

from __future__ import annotations

import inspect

import anyio
import anyio.lowlevel
import pytest
import uvicorn
from mcp.server import stdio as sdk_stdio
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from sse_starlette.sse import AppStatus
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle
from uvicorn.server import ServerState

from kushrouter_mcp.face.app import create_server
from kushrouter_mcp.library_internals import http_stack
from kushrouter_mcp.settings.config import Settings


def test_the_sdk_stdio_fd_claim_is_still_there() -> None:
    assert list(inspect.signature(sdk_stdio._claim_fd).parameters) == [
        "fd",
        "stream",
        "mode",
        "open_diversion",
    ]
    assert callable(sdk_stdio._open_stdin_diversion)
    assert callable(sdk_stdio._open_stdout_diversion)


def test_mcpserver_still_runs_over_streams_through_its_lowlevel_server() -> None:
    lowlevel = create_server(Settings.from_env({}))._lowlevel_server
    assert list(inspect.signature(lowlevel.run).parameters)[:3] == [
        "read_stream",
        "write_stream",
        "initialization_options",
    ]
    assert callable(lowlevel.create_initialization_options)


# ==== HTTP serving ===============================================================================

pytestmark = pytest.mark.anyio


def test_uvicorn_h11_protocol_has_what_the_hooks_wrap() -> None:
    for method in (
        "connection_made",
        "connection_lost",
        "handle_events",
        "on_response_complete",
        "data_received",
    ):
        assert callable(getattr(H11Protocol, method)), method
    assert list(inspect.signature(H11Protocol.__init__).parameters)[:4] == [
        "self",
        "config",
        "server_state",
        "app_state",
    ]
    init_source = inspect.getsource(H11Protocol.__init__)
    for attribute in ("self.app_state", "self.access_log", "self.connections", "self.cycle", "self.loop"):
        assert attribute in init_source, attribute
    # A new request cycle is how the hooks see a complete request head; its callback, the end.
    assert "on_response=self.on_response_complete" in inspect.getsource(H11Protocol.handle_events)
    assert "self.cycle = RequestResponseCycle(" in inspect.getsource(H11Protocol.handle_events)
    assert "response_complete" in inspect.getsource(RequestResponseCycle.__init__)
    assert "connections" in inspect.signature(ServerState.__init__).parameters or hasattr(
        ServerState(), "connections"
    )


def test_uvicorn_server_has_what_the_graceful_shutdown_uses() -> None:
    server = uvicorn.Server(uvicorn.Config(app=None))  # type: ignore[arg-type]
    assert isinstance(server._captured_signals, list)
    assert isinstance(server.server_state.connections, set)
    assert "self.servers" in inspect.getsource(uvicorn.Server.startup)
    assert "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config.__init__).parameters
    from uvicorn.supervisors.multiprocess import Multiprocess

    assert list(inspect.signature(Multiprocess.__init__).parameters) == ["self", "config", "sockets"]


def test_sse_starlette_has_the_exit_flags() -> None:
    assert hasattr(AppStatus, "should_exit")
    assert hasattr(AppStatus, "enable_automatic_graceful_drain")


async def test_the_sdk_session_manager_keeps_owners_by_client_id() -> None:
    server = MCPServer("t")
    server.streamable_http_app()
    manager = server.session_manager
    assert isinstance(manager, StreamableHTTPSessionManager)
    assert manager._session_owners == {}
    manager._session_owners["s"] = {"client_id": "key-1", "issuer": None, "subject": None}
    assert list(http_stack.session_owners(manager)) == ["key-1"]
    # The session loop keeps its last message: what SessionMemoryBounds works around.
    from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher

    assert "async for item in self._read_stream" in inspect.getsource(JSONRPCDispatcher.run)
    await anyio.lowlevel.checkpoint()


def test_the_sdk_routes_eras_by_the_protocol_version_header() -> None:
    assert http_stack.is_session_era(None)
    assert http_stack.is_session_era("2025-11-25")
    assert not http_stack.is_session_era("2026-07-28")
    from mcp.server import streamable_http_manager

    assert "HANDSHAKE_PROTOCOL_VERSIONS" in inspect.getsource(streamable_http_manager)


def test_uvicorn_workers_are_made_through_the_module_process_class() -> None:
    """run_worker_processes swaps the module's `Process` for one running our server: uvicorn must
    still create every worker through that name, and the worker must still run `self.server`."""
    from uvicorn.supervisors import multiprocess

    supervisor = inspect.getsource(multiprocess.Multiprocess)
    assert supervisor.count("Process(self.config, self.sockets)") >= 2  # start and restart
    assert "self.server.run(sockets)" in inspect.getsource(multiprocess.Process.target)
    assert isinstance(inspect.getattr_static(multiprocess.Process, "server"), property)
    assert "_server" in inspect.getsource(multiprocess.Process.__init__)
