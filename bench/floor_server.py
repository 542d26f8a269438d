"""The floor: the least an MCP server on the same SDK can be, to measure kushrouter-mcp against.

Two tools and nothing else: `echo(text)` answers with its argument, and `lookup(id)` does one
GET on the generations API with a shared httpx.AsyncClient and returns the JSON as it came
(no validation, retries, error mapping or body cap). Served over stdio like the real server:

    KUSHROUTER_BASE_URL=http://127.0.0.1:8787 KUSHROUTER_API_KEY=kr_… python bench/floor_server.py
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer

if TYPE_CHECKING:
    import httpx

server = MCPServer("floor", log_level="WARNING")
_client: list[httpx.AsyncClient] = []  # made on the first lookup, like the real server's


def _http() -> httpx.AsyncClient:
    if not _client:
        import httpx  # lazily, as the real server does: start-up must not pay for it

        _client.append(
            httpx.AsyncClient(
                base_url=os.environ["KUSHROUTER_BASE_URL"],
                headers={"Authorization": f"Bearer {os.environ['KUSHROUTER_API_KEY']}"},
            )
        )
    return _client[0]


@server.tool(structured_output=False)  # one text block: the cheapest answer the SDK can send
def echo(text: str) -> str:
    """Answer with the text as given."""
    return text


@server.tool()
async def lookup(id: str) -> dict[str, Any]:
    """One GET of the generation record, returned as the API sent it."""
    response = await _http().get("/api/v1/generations", params={"id": id})
    body: dict[str, Any] = response.json()
    return body


if __name__ == "__main__":
    server.run("stdio")
