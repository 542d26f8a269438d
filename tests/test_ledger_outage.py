"""A ledger that can't be written for a while, through real server processes and a real SQLite file:
the server starts and answers lookups, /healthz stays 200 and says `degraded` with the rows that
wait, and every row is written once the problem is fixed, at the latest when the server stops
(SIGTERM over HTTP, stdin closed over stdio). A problem that outlasts the stop costs the rows left,
counted in a warning, and the stop still ends within its graceful timeout.

"Can't be written" here is a regular file where the ledger's directory belongs: it fails for root
too, and the test fixes it by removing the file. The same with PostgreSQL (the database stopped and
started again): test_ledger_replicas.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from conftest import StartProcess, server_env, stdio_server
from http_helpers import bearer_client, wait_exit
from kushrouter_mcp.sandbox.runner import RunningSandbox
from test_ledger import rows
from test_ledger_e2e import publish_period

pytestmark = pytest.mark.anyio

GRACE = 3
SLACK = 2.5  # a loaded machine: the shutdown's own start, the interpreter's exit


def blocked_ledger(tmp_path: Path) -> tuple[Path, Path]:
    """(the ledger's path, the file in the way of its directory)."""
    blocker = tmp_path / "data"
    blocker.write_text("a regular file where the ledger's directory belongs")
    return blocker / "ledger.sqlite3", blocker


async def health(port: int) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(f"http://127.0.0.1:{port}/healthz")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["status"] == "ok"
    return body["ledger"]  # type: ignore[no-any-return]


async def look_up(port: int, ids: list[str]) -> None:
    async with bearer_client(f"http://127.0.0.1:{port}/mcp", None) as client:
        for gen_id in ids:
            result = await client.call_tool("get_generation", {"id": gen_id})
            assert not result.is_error and result.structured_content["id"] == gen_id


async def test_an_http_server_starts_and_serves_with_an_unwritable_ledger_and_writes_every_row_on_sigterm(
    sandbox: RunningSandbox, server_process: StartProcess, tmp_path: Path
) -> None:
    path, blocker = blocked_ledger(tmp_path)
    ids = [record["id"] for record in publish_period(sandbox, 6, seed=14)]
    env = server_env(sandbox.base_url, KUSHROUTER_MCP_LEDGER=str(path))
    process, port, log = server_process(env, "--graceful-timeout", str(GRACE))
    assert await health(port) == {
        "state": "ok", "backend": "sqlite", "pending_rows": 0, "dropped_rows": 0, "problem": None
    }  # fmt: skip
    await look_up(port, ids)
    with anyio.fail_after(10):  # the writer's first try fails at once; the state says so
        while (state := await health(port))["state"] != "degraded":  # noqa: ASYNC110 - another process
            await anyio.sleep(0.05)
    assert state["pending_rows"] == len(ids) and state["dropped_rows"] == 0, state
    assert "Not a directory" in state["problem"], state
    await anyio.sleep(2)  # the writer's pause has grown past one try: the stop must try itself
    blocker.unlink()
    signalled = time.monotonic()
    assert await wait_exit(process) == 0, log.read_text()
    assert time.monotonic() - signalled < GRACE + SLACK
    assert set(rows(path)) == set(ids), "every row that waited is in the file"
    text = log.read_text()
    assert text.count("can't be written") == 1 and "Not a directory" in text, text
    assert "not written in time" not in text and "Traceback" not in text, text


async def test_a_problem_that_outlasts_the_stop_counts_the_rows_lost_and_the_stop_keeps_its_time(
    sandbox: RunningSandbox, server_process: StartProcess, tmp_path: Path
) -> None:
    path, _ = blocked_ledger(tmp_path)
    ids = [record["id"] for record in publish_period(sandbox, 4, seed=15)]
    env = server_env(sandbox.base_url, KUSHROUTER_MCP_LEDGER=str(path))
    process, port, log = server_process(env, "--graceful-timeout", str(GRACE))
    await look_up(port, ids)
    signalled = time.monotonic()
    assert await wait_exit(process) == 0, log.read_text()
    took = time.monotonic() - signalled
    assert GRACE - 0.5 < took < GRACE + SLACK, f"it tried for the graceful timeout, no longer: {took:.1f} s"
    (lost,) = [line for line in log.read_text().splitlines() if "not written in time" in line]
    assert f"last {len(ids)} rows" in lost and "Not a directory" in lost, lost


async def test_a_stdio_server_writes_the_rows_that_waited_when_its_stdin_closes(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    path, blocker = blocked_ledger(tmp_path)
    ids = [record["id"] for record in publish_period(sandbox, 5, seed=16)]
    errors = tmp_path / "stderr.log"
    with errors.open("w") as errlog:
        async with stdio_server(sandbox, errlog, KUSHROUTER_MCP_LEDGER=str(path)) as client:
            for gen_id in ids:
                assert not (await client.call_tool("get_generation", {"id": gen_id})).is_error
            report = await client.call_tool("usage_report", {})  # a report tries the write at once
            text = "\n".join(block.text for block in report.content)  # type: ignore[union-attr]
            assert f"{len(ids)} rows of new lookups wait in memory" in text, text
            await anyio.sleep(2)  # the writer's own pause has grown: closing stdin must try at once
            blocker.unlink()
        # The client closed stdin and waited for the process to end.
    assert set(rows(path)) == set(ids)
    assert "not written in time" not in errors.read_text()


def test_healthz_says_off_when_the_ledger_is_off(
    sandbox: RunningSandbox, server_process: StartProcess
) -> None:
    process, port, _ = server_process(server_env(sandbox.base_url, KUSHROUTER_MCP_LEDGER="off"))
    answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    assert answer.status_code == 200 and answer.json() == {
        "status": "ok",
        "ledger": {"state": "off", "backend": None, "pending_rows": 0, "dropped_rows": 0, "problem": None},
    }
    process.terminate()
    assert process.wait(timeout=30) == 0
