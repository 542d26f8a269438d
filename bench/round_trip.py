"""get_generation round trip over stdio against the sandbox, against the floor's bare `lookup(id)`.

Both servers run at once against one sandbox (no injected latency; it answers in one write
with TCP_NODELAY, so Nagle and delayed ACKs add nothing) and calls alternate between them.
The floor does one GET and returns the JSON; ours adds id validation, the record's
validation, retries-ready error mapping and a summary. Our cache is off here
(KUSHROUTER_MCP_CACHE_SIZE=0), so every call reaches the sandbox as the floor's does;
bench/cache.py measures cache hits. Run: python bench/round_trip.py [--calls N]
"""

from __future__ import annotations

import argparse
from statistics import median

from _common import FLOOR, OURS, UNCACHED, StdioServer, describe, server_env, verdict
from kushrouter_mcp.sandbox.runner import run_sandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, CHAT_ID

GOAL = 1.25
WARM_UP_CALLS = 20  # the first lookup makes the HTTP client and connection; later ones reuse them


def timed_call(server: StdioServer, tool: str) -> float:
    return server.timed_call(tool, {"id": CHAT_ID})[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300, help="calls to each server (default 300)")
    calls = parser.parse_args().calls
    with (
        run_sandbox() as sandbox,
        StdioServer(OURS, {**server_env(sandbox.base_url, ALICE_KEY), **UNCACHED}) as ours_server,
        StdioServer(FLOOR, server_env(sandbox.base_url, ALICE_KEY)) as floor_server,
    ):
        ours_server.initialize()
        floor_server.initialize()
        structured = ours_server.call_tool("get_generation", {"id": CHAT_ID})["structuredContent"]
        assert structured["id"] == CHAT_ID, structured  # the bench times real answers, not errors
        for _ in range(WARM_UP_CALLS):
            timed_call(ours_server, "get_generation"), timed_call(floor_server, "lookup")
        ours: list[float] = []
        floor: list[float] = []
        for _ in range(calls):
            ours.append(timed_call(ours_server, "get_generation"))
            floor.append(timed_call(floor_server, "lookup"))
    print(describe("get_generation   ", ours, "ms", 1000, digits=2))
    print(describe("floor lookup     ", floor, "ms", 1000, digits=2))
    print(describe("ratio per pair   ", [a / b for a, b in zip(ours, floor, strict=True)], "x", digits=2))
    print(verdict("round trip", median(ours) * 1000, median(floor) * 1000, "ms", GOAL, digits=2))


if __name__ == "__main__":
    main()
