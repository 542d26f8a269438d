"""get_generations over stdio vs. a bare httpx client doing the same GETs, in the same run.

200 ids against the sandbox (its own process) with 50 ms injected latency, concurrency 8 on
both sides. Rounds alternate between the two; medians are compared. The server's cache is
off so every round really looks every id up. Run: python bench/batch.py
The last line is the ratio of get_generations to the bare client.
"""

from __future__ import annotations

import math
import statistics
import time

import anyio
import httpx

from _common import UNCACHED, publish, stdio_server
from kushrouter_mcp.sandbox.processes import running_sandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY

IDS = [f"chatcmpl-bench-{n:03d}" for n in range(200)]
CONCURRENCY = 8
LATENCY_MS = 50
ROUNDS = 7


async def bare(http: httpx.AsyncClient) -> float:
    """The floor: the same 200 GETs, 8 at a time, bodies read and parsed, nothing else."""
    queue = iter(IDS)

    async def worker() -> None:
        for gen_id in queue:
            response = await http.get("/api/v1/generations", params={"id": gen_id})
            assert response.json()["generation"]["id"] == gen_id

    started = time.perf_counter()
    async with anyio.create_task_group() as workers:
        for _ in range(CONCURRENCY):
            workers.start_soon(worker)
    return time.perf_counter() - started


async def main() -> None:
    with running_sandbox("--latency-ms", str(LATENCY_MS)) as sandbox:
        base_url = sandbox.base_url
        publish(base_url, IDS)
        headers = {"Authorization": f"Bearer {ALICE_KEY}"}
        server = stdio_server(base_url, **UNCACHED, KUSHROUTER_MCP_BATCH_CONCURRENCY=str(CONCURRENCY))
        # trust_env=False here and in every bench client: an environment's proxy never carries loopback.
        bare_client = httpx.AsyncClient(base_url=base_url, headers=headers, trust_env=False)
        async with bare_client as http, server as client:
            ours: list[float] = []
            floor: list[float] = []
            await bare(http)  # warm both: connections open, first-call imports done
            await client.call_tool("get_generations", {"ids": IDS[:CONCURRENCY]})
            for _ in range(ROUNDS):
                floor.append(await bare(http))
                started = time.perf_counter()
                result = await client.call_tool("get_generations", {"ids": IDS})
                ours.append(time.perf_counter() - started)
                assert result.structured_content["counts"]["found"] == len(IDS), result.content
    ideal = math.ceil(len(IDS) / CONCURRENCY) * LATENCY_MS / 1000
    mine, base = statistics.median(ours), statistics.median(floor)
    print(
        f"{len(IDS)} ids, concurrency {CONCURRENCY}, {LATENCY_MS} ms latency, {ROUNDS} rounds each (medians)"
    )

    def rounds(times: list[float]) -> str:
        return ", ".join(f"{t * 1000:.0f}" for t in times)

    print(f"get_generations over stdio: {mine * 1000:7.1f} ms  (rounds: {rounds(ours)})")
    print(f"bare httpx.AsyncClient:     {base * 1000:7.1f} ms  (rounds: {rounds(floor)})")
    print(
        f"ideal ceil(200/8) x 50 ms:  {ideal * 1000:7.1f} ms  (get_generations / ideal: {mine / ideal:.2f}x)"
    )
    print(f"get_generations / bare client: {mine / base:.2f}x")


if __name__ == "__main__":
    anyio.run(main)
