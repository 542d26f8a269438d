"""The end of the grace period: calls still running get an answer saying the server is stopping,
calls that finish in time get theirs, and the process exits 0 within the period."""

from __future__ import annotations

import time

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from conftest import StartProcess, server_env
from http_helpers import MODERN, bearer_client, wait_exit
from kushrouter_mcp.face.stopping import STOPPING_CODE
from kushrouter_mcp.sandbox.runner import RunningSandbox

pytestmark = pytest.mark.anyio

GRACE = 2
SLACK = 2.5  # a loaded machine: start-up of the shutdown, the answer's way back


@pytest.mark.parametrize(
    ("flags", "mode"),
    [((), "legacy"), (("--stateless",), MODERN), (("--stateless", "--workers", "2"), MODERN)],
    ids=["stateful", "stateless", "stateless-workers"],
)
async def test_calls_running_at_the_end_of_the_grace_period_are_answered_as_stopped(
    sandbox: RunningSandbox, server_process: StartProcess, flags: tuple[str, ...], mode: str
) -> None:
    process, port, log = server_process(
        server_env(sandbox.base_url), "--graceful-timeout", str(GRACE), *flags
    )
    outcomes: dict[str, object] = {}
    async with bearer_client(f"http://127.0.0.1:{port}/mcp", None, mode) as client:
        await client.list_tools()  # the client fetches output schemas once; do it before the signal

        async def call(name: str, generation_id: str) -> None:
            try:
                outcomes[name] = await client.call_tool("get_generation", {"id": generation_id})
            except MCPError as error:
                outcomes[name] = error
            outcomes[f"{name} at"] = time.monotonic()

        with anyio.fail_after(20):  # today's code: the slow call is never answered
            async with anyio.create_task_group() as group:
                group.start_soon(call, "slow", "sandbox-slow-30")
                group.start_soon(call, "quick", "sandbox-slow-1")
                await anyio.sleep(0.5)
                signalled = time.monotonic()
                exit_code = await wait_exit(process)
                exited = time.monotonic()
    assert exit_code == 0, log.read_text()
    assert exited - signalled < GRACE + SLACK, "the process exits within one grace period"

    quick = outcomes["quick"]
    assert not isinstance(quick, MCPError) and not quick.is_error, quick  # type: ignore[attr-defined]
    assert quick.structured_content["id"] == "sandbox-slow-1"  # type: ignore[attr-defined]

    slow = outcomes["slow"]
    assert isinstance(slow, MCPError), slow
    assert slow.code == STOPPING_CODE
    assert "The server is stopping (SIGTERM)" in slow.message and "call it again" in slow.message
    assert outcomes["slow at"] - signalled < GRACE + SLACK  # type: ignore[operator]
    assert "answered as cut" in log.read_text()
