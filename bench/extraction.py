"""extract_generation_id on an 8 MiB captured stream, against the floor's echo of the same 8 MiB.

Over stdio, both servers at once, calls alternating: each reads the same 8 MiB argument; the
floor only sends it back, ours finds the id and usage in it. First, in process: the extraction
alone on 1 MiB and 8 MiB, whose time must grow linearly with the payload (8.00 is exactly
linear), and for scale the bare json.loads of every event that any stream reader must do.
Run: python bench/extraction.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from statistics import median

from _common import FLOOR, MIB, OURS, StdioServer, describe, server_env, stream_of, verdict
from kushrouter_mcp.extraction import extract_generations

GOAL = 1.2


def in_process_seconds(small: str, large: str, runs: int) -> tuple[list[float], list[float]]:
    """(small, large) extraction times, interleaved so both sizes see the same machine."""

    def extract(text: str) -> Callable[[], None]:
        def work() -> None:
            assert extract_generations(text).usage is not None

        return work

    small_times: list[float] = []
    large_times: list[float] = []
    for _ in range(runs):
        large_times.append(_seconds(extract(large)))
        small_times.extend(_seconds(extract(small)) for _ in range(4))
    return small_times, large_times


def parse_every_event_seconds(text: str, runs: int) -> list[float]:
    """The least any reader of an SSE capture does: split it into lines, json.loads each event."""

    def parse() -> None:
        for line in text.split("\n"):
            if line.startswith("data: {"):
                json.loads(line[6:])

    return [_seconds(parse) for _ in range(runs)]


def _seconds(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def over_stdio(text: str, runs: int) -> tuple[list[float], list[float]]:
    """(ours, floor) seconds per call, after one discarded warm-up call each."""
    with (
        StdioServer(OURS, server_env()) as ours_server,
        StdioServer(FLOOR, server_env()) as floor_server,
    ):
        ours_server.initialize()
        floor_server.initialize()
        found = ours_server.call_tool("extract_generation_id", {"payload": text})["structuredContent"]
        assert found["id"] == "chatcmpl-bench-1", found  # it times real answers, never errors
        assert found["usage"]["total_tokens"] == 46, found
        assert floor_server.call_tool("echo", {"text": text})["content"][0]["text"] == text
        ours: list[float] = []
        floor: list[float] = []
        for _ in range(runs):
            ours.append(ours_server.timed_call("extract_generation_id", {"payload": text})[0])
            floor.append(floor_server.timed_call("echo", {"text": text})[0])
    return ours, floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9, help="8 MiB calls to each server (default 9)")
    runs = parser.parse_args().runs
    small, large = stream_of(MIB), stream_of(8 * MIB)
    one, eight = in_process_seconds(small, large, runs)
    print(describe("in process, extraction of 1 MiB", one, "ms", 1000))
    print(describe("in process, extraction of 8 MiB", eight, "ms", 1000))
    print(
        describe(
            "in process, json.loads per event, 8 MiB", parse_every_event_seconds(large, runs), "ms", 1000
        )
    )
    print(f"linearity: extraction 8 MiB / 1 MiB = {median(eight) / median(one):.2f} (8.00 is exactly linear)")
    ours, floor = over_stdio(large, runs)
    print(describe("stdio, extract_generation_id 8 MiB", ours, "ms", 1000))
    print(describe("stdio, floor echo 8 MiB          ", floor, "ms", 1000))
    print(verdict("extract 8 MiB vs echo 8 MiB", median(ours) * 1000, median(floor) * 1000, "ms", GOAL))


if __name__ == "__main__":
    main()
