"""The MCP SDK's stdio plumbing, for face/stdio.py (see the package docstring)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server import stdio as sdk_stdio
from mcp.server.mcpserver import MCPServer
from mcp.shared.message import SessionMessage

# ==== stdio: the MCP SDK's stdio plumbing, for face/stdio.py ======================================
# The SDK's stdio transport drops lines it can't read and can't be stopped while stdin is open, and
# MCPServer runs only over that transport. face/stdio.py has its own line reading and writing, and
# reuses from the SDK what it can't do better: the claim of fds 0 and 1, and the server's run loop.
# Private SDK state used: mcp.server.stdio._claim_fd, _open_stdin_diversion, _open_stdout_diversion;
# MCPServer._lowlevel_server. Imported lazily by the stdio server.


@contextmanager
def claimed_stdio() -> Iterator[tuple[IO[bytes], IO[bytes]]]:
    """The MCP channel as private binary streams (input, output), as the SDK's transport claims it.

    Meanwhile fd 0 reads the null device and fd 1 writes to stderr, so a stray read gets EOF and a
    stray print can't corrupt the channel; both are restored on exit. The streams are never closed
    (a reader thread may still block on the input after this exits).
    """
    wire_in, release_in = sdk_stdio._claim_fd(0, sys.stdin, "rb", sdk_stdio._open_stdin_diversion)
    try:
        wire_out, release_out = sdk_stdio._claim_fd(1, sys.stdout, "wb", sdk_stdio._open_stdout_diversion)
        try:
            yield wire_in, wire_out
        finally:
            if release_out is not None:
                release_out()
    finally:
        if release_in is not None:
            release_in()


async def serve_streams(
    server: MCPServer[Any],
    read_stream: MemoryObjectReceiveStream[SessionMessage | Exception],
    write_stream: MemoryObjectSendStream[SessionMessage],
) -> None:
    """Serve one connection over the given streams, as MCPServer.run_stdio_async does over its own."""
    lowlevel = server._lowlevel_server
    await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
