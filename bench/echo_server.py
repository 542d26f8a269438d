"""The floor for bench/load.py: a trivial MCP server on the same SDK, transport and uvicorn set-up.

One tool that answers at once with its argument — no upstream call, no auth.
Run: python bench/echo_server.py PORT [--stateless]
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer


def main() -> None:
    port, stateless = int(sys.argv[1]), "--stateless" in sys.argv[2:]
    server: MCPServer[Any] = MCPServer("echo", log_level="WARNING")

    @server.tool()
    def echo(id: str) -> dict[str, Any]:
        return {"id": id}

    app = server.streamable_http_app(stateless_http=stateless, json_response=stateless)
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
