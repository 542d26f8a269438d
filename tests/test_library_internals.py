"""What library_internals.py reaches into still exists: an upgrade that moves it fails here, loudly."""

from __future__ import annotations

import inspect

# ==== stdio ======================================================================================
from mcp.server import stdio as sdk_stdio

from kushrouter_mcp.face.app import create_server
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
