"""Cold start over stdio: spawn → `initialize` answered, kushrouter-mcp against the floor server.

What an IDE pays on every launch. Runs alternate (ours, floor, ours, …) so both see the same
machine; one discarded run of each first warms the disk cache. No key, no upstream: start-up
must not touch either. Run: python bench/cold_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import time
from statistics import median

from _common import FLOOR, OURS, StdioServer, describe, server_env, verdict

GOAL = 1.05


def cold_start_seconds(argv: list[str]) -> float:
    started = time.perf_counter()
    with StdioServer(argv, server_env()) as server:
        server.initialize()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="runs of each server (default 15)")
    runs = parser.parse_args().runs
    cold_start_seconds(OURS), cold_start_seconds(FLOOR)  # warm-up, discarded
    ours: list[float] = []
    floor: list[float] = []
    for _ in range(runs):
        ours.append(cold_start_seconds(OURS))
        floor.append(cold_start_seconds(FLOOR))
    print(describe("kushrouter-mcp", ours, "ms", 1000))
    print(describe("floor         ", floor, "ms", 1000))
    pair_ratios = [a / b for a, b in zip(ours, floor, strict=True)]
    print(describe("ratio per pair", pair_ratios, "x", digits=2))
    print(verdict("cold start", median(ours) * 1000, median(floor) * 1000, "ms", GOAL))


if __name__ == "__main__":
    main()
