"""A cached get_generation's round trip over stdio vs. an uncached one and vs. the floor for a hit.

The floor is a trivial tool on the same SDK, in its own stdio process, that returns the same
record and summary from a dict with the same outputSchema: what any cache hit must cost at least.
The three servers are called in turn, one call each; per-call medians are compared.
Run: python bench/cache.py     The last line is the ratio of a cached lookup to that floor.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Annotated

import anyio
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent

from _common import UNCACHED, stdio_server
from kushrouter_mcp.face.summaries import summarize_record
from kushrouter_mcp.records.models import Generation
from kushrouter_mcp.sandbox.processes import running_sandbox
from kushrouter_mcp.sandbox.samples import CHAT_ID, SEED_RECORDS

CALLS = 800  # per server, one call to each server in turn (rotating the order): drift hits all alike
WARM_CALLS = 20


def serve_floor() -> None:
    record = SEED_RECORDS[CHAT_ID]
    summary = summarize_record(record)
    server = MCPServer("floor", log_level="WARNING")

    @server.tool()
    async def get_generation(id: str) -> Annotated[CallToolResult, Generation]:
        return CallToolResult(content=[TextContent(type="text", text=summary)], structured_content=record)

    server.run("stdio")


async def one_call(client: Client) -> float:
    started = time.perf_counter()
    result = await client.call_tool("get_generation", {"id": CHAT_ID})
    elapsed = time.perf_counter() - started
    assert not result.is_error, result.content
    assert result.structured_content == SEED_RECORDS[CHAT_ID]
    return elapsed


async def main() -> None:
    samples: dict[str, list[float]] = {"uncached": [], "cached": [], "floor": []}
    with running_sandbox() as sandbox:
        base_url = sandbox.base_url
        servers = {
            "uncached": stdio_server(base_url, **UNCACHED),
            "cached": stdio_server(base_url),
            "floor": stdio_server(base_url, __file__, "--floor-server"),
        }
        async with servers["uncached"] as uncached, servers["cached"] as cached, servers["floor"] as floor:
            clients = [("uncached", uncached), ("cached", cached), ("floor", floor)]
            for _, client in clients:  # warm: imports, HTTP connection, the cache entry
                for _ in range(WARM_CALLS):
                    await one_call(client)
            for turn in range(CALLS):
                shift = turn % len(clients)
                for name, client in clients[shift:] + clients[:shift]:
                    samples[name].append(await one_call(client))
    medians = {name: statistics.median(times) for name, times in samples.items()}
    print(f"get_generation round trips over stdio, {CALLS} calls each, interleaved (medians)")
    for name, seconds in medians.items():
        print(f"{name:>9}: {seconds * 1e6:8.0f} µs")
    print(f"cached / uncached: {medians['cached'] / medians['uncached']:.2f}x")
    print(f"cached / floor: {medians['cached'] / medians['floor']:.2f}x")


if __name__ == "__main__":
    if sys.argv[1:] == ["--floor-server"]:
        serve_floor()
    else:
        anyio.run(main)
