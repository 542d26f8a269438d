"""Extraction cost on captured streams of 1 MiB and 8 MiB, against a floor measured in the same run.

The floor is the least any reader of an SSE capture must do: split it into lines and
json.loads every data line. Run: python bench/extraction_scaling.py
The last line is the ratio of extraction to that floor at 8 MiB.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

from kushrouter_mcp.extraction import extract_generations

MIB = 1024 * 1024
CHUNK = (
    '{"id":"chatcmpl-bench-1","object":"chat.completion.chunk","created":1731753062,'
    '"model":"gpt-5-mini","choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}'
)
USAGE = (
    'data: {"id":"chatcmpl-bench-1","object":"chat.completion.chunk","choices":[],'
    '"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}}\n\ndata: [DONE]\n\n'
)


def stream_of(size: int) -> str:
    event = f"data: {CHUNK % 'lorem ipsum dolor sit amet '}\n\n"
    return event * (size // len(event)) + USAGE


def floor(text: str) -> None:
    for line in text.split("\n"):
        if line.startswith("data: {"):
            json.loads(line[6:])


def extract(text: str) -> None:
    assert extract_generations(text).usage is not None


def median_seconds(work: Callable[[str], None], text: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    results: dict[int, tuple[float, float]] = {}
    for size in (1 * MIB, 8 * MIB):
        text = stream_of(size)
        runs = 15 if size == MIB else 5
        results[size] = (median_seconds(extract, text, runs), median_seconds(floor, text, runs))
        ours, base = results[size]
        print(
            f"{size // MIB} MiB: extract {ours * 1000:7.1f} ms   floor {base * 1000:7.1f} ms   "
            f"ratio {ours / base:.2f}x"
        )
    growth = results[8 * MIB][0] / results[MIB][0]
    print(f"8 MiB / 1 MiB extraction time: {growth:.2f} (8.00 is exactly linear)")
    print(f"ratio to floor at 8 MiB: {results[8 * MIB][0] / results[8 * MIB][1]:.2f}x")


if __name__ == "__main__":
    main()
