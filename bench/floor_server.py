"""The floor: the least an MCP server on the same SDK can be, to measure kushrouter-mcp against.

Two tools and nothing else: `echo(text)` answers with its argument, and `lookup(id)` does one
GET on the generations API with a shared httpx.AsyncClient and returns the JSON as it came
(no validation, retries, error mapping or body cap). Served over stdio like the real server:

    KUSHROUTER_BASE_URL=http://127.0.0.1:8787 KUSHROUTER_API_KEY=kr_… python bench/floor_server.py

or over streamable HTTP at http://127.0.0.1:PORT/mcp (bench/load.py), with the real server's
uvicorn set-up (no access log) and, with --stateless, its stateless mode (JSON answers, no sessions):

    python bench/floor_server.py --http PORT [--stateless]

No argparse: the floor's cold start must not pay for a module the SDK doesn't load.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer

if TYPE_CHECKING:
    import httpx

USAGE = "usage: python bench/floor_server.py [--http PORT [--stateless]]"

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


def serve_http(port: int, stateless: bool) -> None:
    import uvicorn

    app = server.streamable_http_app(stateless_http=stateless, json_response=stateless)
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, log_level="warning")


def main(argv: list[str]) -> None:
    if not argv:
        server.run("stdio")
    elif argv[0] == "--http" and len(argv) >= 2 and argv[1].isdigit() and argv[2:] in ([], ["--stateless"]):
        serve_http(int(argv[1]), stateless=argv[2:] == ["--stateless"])
    else:
        raise SystemExit(USAGE)


if __name__ == "__main__":
    main(sys.argv[1:])
