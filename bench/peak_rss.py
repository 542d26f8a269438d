"""Peak RSS of the server after the benches' calls, against the floor server doing the same.

Each server gets the same work over stdio: lookups against the sandbox (get_generation vs the
floor's lookup), then 8 MiB payloads (extract_generation_id vs echo). Its peak resident set
(VmHWM, Linux) is read afterwards. Fresh processes per round; the median round counts.
Run: python bench/peak_rss.py [--rounds N]
"""

from __future__ import annotations

import argparse
from statistics import median

from _common import FLOOR, MIB, OURS, StdioServer, describe, server_env, stream_of, verdict
from kushrouter_mcp.sandbox.runner import run_sandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, CHAT_ID

GOAL = 1.10
LOOKUPS = 50
LARGE_CALLS = 3


def peak_after_work(argv: list[str], lookup_tool: str, large_tool: str, base_url: str, payload: str) -> int:
    """Peak RSS in KiB of a fresh server after LOOKUPS lookups and LARGE_CALLS 8 MiB calls."""
    argument = "payload" if large_tool == "extract_generation_id" else "text"
    with StdioServer(argv, server_env(base_url, ALICE_KEY)) as server:
        server.initialize()
        for _ in range(LOOKUPS):
            server.call_tool(lookup_tool, {"id": CHAT_ID})
        for _ in range(LARGE_CALLS):
            server.call_tool(large_tool, {argument: payload})
        return server.peak_rss_kib()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="fresh servers of each kind (default 3)")
    rounds = parser.parse_args().rounds
    payload = stream_of(8 * MIB)
    ours: list[float] = []
    floor: list[float] = []
    with run_sandbox() as sandbox:
        for _ in range(rounds):
            ours.append(
                peak_after_work(OURS, "get_generation", "extract_generation_id", sandbox.base_url, payload)
            )
            floor.append(peak_after_work(FLOOR, "lookup", "echo", sandbox.base_url, payload))
    print(describe("kushrouter-mcp peak RSS", ours, "MiB", 1 / 1024))
    print(describe("floor peak RSS         ", floor, "MiB", 1 / 1024))
    print(verdict("peak RSS", median(ours) / 1024, median(floor) / 1024, "MiB", GOAL))


if __name__ == "__main__":
    main()
