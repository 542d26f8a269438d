"""extract_generation_id on 8 MiB captured streams, against the floor's echo of the same 8 MiB.

One capture per endpoint family (Chat Completions, Anthropic Messages, Responses), with varied
delta text. Over stdio, both servers at once, calls alternating: each reads the same 8 MiB
argument; the floor only sends it back, ours finds the id and usage in it. The verdict is the
worst family's. First, in process: the extraction alone on 1 MiB and 8 MiB per family, whose
time must grow linearly with the payload (8.00 is exactly linear), and for scale the bare
json.loads of every event, what an extractor that parsed every event would pay before looking
at any (ours skips, unparsed, the events that can't change the answer).
Run: python bench/extraction.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from statistics import median

from _common import FAMILIES, FLOOR, MIB, OURS, StdioServer, describe, server_env, stream_of, verdict
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


def over_stdio(captures: dict[str, str], runs: int) -> dict[str, tuple[list[float], list[float]]]:
    """Per family, (ours, floor) seconds per call, calls alternating, after one checked warm-up each."""
    times: dict[str, tuple[list[float], list[float]]] = {}
    with (
        StdioServer(OURS, server_env()) as ours_server,
        StdioServer(FLOOR, server_env()) as floor_server,
    ):
        ours_server.initialize()
        floor_server.initialize()
        for family, text in captures.items():
            found = ours_server.call_tool("extract_generation_id", {"payload": text})["structuredContent"]
            assert found["endpoint"] == family, found  # it times real answers, never errors
            assert found["usage"]["total_tokens"] == 46, found
            assert floor_server.call_tool("echo", {"text": text})["content"][0]["text"] == text
            ours, floor = times[family] = ([], [])
            for _ in range(runs):
                ours.append(ours_server.timed_call("extract_generation_id", {"payload": text})[0])
                floor.append(floor_server.timed_call("echo", {"text": text})[0])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9, help="8 MiB calls to each server (default 9)")
    runs = parser.parse_args().runs
    captures = {family: stream_of(8 * MIB, family) for family in FAMILIES}
    for family, large in captures.items():
        one, eight = in_process_seconds(stream_of(MIB, family), large, runs)
        print(describe(f"in process, {family}, extraction of 1 MiB", one, "ms", 1000))
        print(describe(f"in process, {family}, extraction of 8 MiB", eight, "ms", 1000))
        growth = median(eight) / median(one)
        print(f"linearity: {family} extraction 8 MiB / 1 MiB = {growth:.2f} (8.00 is exactly linear)")
    loads = parse_every_event_seconds(captures["openai.chat.completions"], runs)
    print(describe("in process, json.loads of every chat event, 8 MiB (for scale)", loads, "ms", 1000))
    ratios: dict[str, tuple[float, float]] = {}
    for family, (ours, floor) in over_stdio(captures, runs).items():
        print(describe(f"stdio, extract_generation_id 8 MiB {family}", ours, "ms", 1000))
        print(describe(f"stdio, floor echo 8 MiB {family}", floor, "ms", 1000))
        ratios[family] = (median(ours) * 1000, median(floor) * 1000)
    worst = max(ratios, key=lambda family: ratios[family][0] / ratios[family][1])
    print(verdict(f"extract 8 MiB vs echo 8 MiB (worst: {worst})", *ratios[worst], "ms", GOAL))


if __name__ == "__main__":
    main()
