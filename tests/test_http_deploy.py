"""Serving a team: exposure rules, allowed hosts and origins, /healthz, workers, graceful SIGTERM."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest

from conftest import StartProcess, server_env
from http_helpers import (
    MODERN,
    TOKEN,
    StartHttp,
    bearer_client,
    initialize,
    lookups,
    raw_post,
    rpc,
    wait_exit,
)
from kushrouter_mcp.cli import main
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, BOB_KEY, BOB_ONLY_ID, CHAT_ID
from kushrouter_mcp.serving.app import Serving, exposure_problem
from kushrouter_mcp.settings.config import HttpSettings

pytestmark = pytest.mark.anyio


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kushrouter_mcp", "--transport", "http", *args],
        env=server_env("http://127.0.0.1:9", **env),
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_a_public_address_without_authentication_is_refused_with_what_to_do() -> None:
    done = run_cli("--host", "0.0.0.0")
    assert done.returncode == 2 and done.stdout == ""
    for advice in ("KUSHROUTER_MCP_TOKENS", "--key-mode per-request", "127.0.0.1"):
        assert advice in done.stderr


def test_which_exposures_are_allowed() -> None:
    open_team = HttpSettings()
    assert exposure_problem(Serving("0.0.0.0", open_team)) is not None
    assert exposure_problem(Serving("10.0.0.5", open_team)) is not None
    assert exposure_problem(Serving("0.0.0.0", HttpSettings(tokens=(TOKEN,)))) is None
    assert exposure_problem(Serving("0.0.0.0", HttpSettings(key_mode="per-request"))) is None
    for loopback in ("127.0.0.1", "localhost", "::1"):
        assert exposure_problem(Serving(loopback, open_team)) is None


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (("--workers", "2"), {}, "--stateless"),
        (("--workers", "0", "--stateless"), {}, "--workers"),
        (("--graceful-timeout", "-1"), {}, "--graceful-timeout"),
        (("--log-level", "loud"), {}, "--log-level"),
        (("--max-body-bytes", "10"), {}, "--max-body-bytes"),
        ((), {"KUSHROUTER_MCP_TOKENS": "short"}, "at least 16"),
        ((), {"KUSHROUTER_MCP_TOKENS_FILE": "/nonexistent/tokens"}, "KUSHROUTER_MCP_TOKENS_FILE"),
        ((), {"KUSHROUTER_MCP_KEY_MODE": "everyone"}, "KUSHROUTER_MCP_KEY_MODE"),
    ],
)
def test_bad_team_settings_stop_start_up_with_their_names(
    args: tuple[str, ...],
    env: dict[str, str],
    words: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["--transport", "http", *args]) == 2  # refused before anything binds or serves
    assert words in capsys.readouterr().err


# A server that has looked nothing up: its default ledger (a file) has nothing to write.
NOTHING_QUEUED = {"state": "ok", "backend": "sqlite", "pending_rows": 0, "dropped_rows": 0, "problem": None}


async def test_tokens_from_a_file_and_healthz_without_auth(
    sandbox: RunningSandbox, http_server_factory: StartHttp, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# team tokens\n{TOKEN}  # ci\n\n")
    url, _ = http_server_factory(server_env(sandbox.base_url, KUSHROUTER_MCP_TOKENS_FILE=str(tokens)))
    async with httpx.AsyncClient(timeout=10) as http:
        health = await http.get(url.replace("/mcp", "/healthz"))
        assert health.status_code == 200 and health.json() == {"status": "ok", "ledger": NOTHING_QUEUED}
        assert (await raw_post(http, url, rpc("ping"))).status_code == 401
    async with bearer_client(url, TOKEN) as client:
        assert not (await client.call_tool("get_generation", {"id": CHAT_ID})).is_error
    assert len(sandbox.state.requests) == 1  # the health check never went upstream


async def test_allowed_hosts_and_origins_extend_the_defaults(
    sandbox: RunningSandbox, http_server_factory: StartHttp
) -> None:
    url, _ = http_server_factory(
        server_env(sandbox.base_url),
        "--allowed-hosts", "mcp.example.com,mcp.example.com:443",
        "--allowed-origins", "https://app.example.com",
    )  # fmt: skip
    async with httpx.AsyncClient(timeout=10) as http:
        for headers, status in [
            ({"Host": "mcp.example.com"}, 200),
            ({"Host": "mcp.example.com:443"}, 200),
            ({"Host": "mcp.example.com:8443"}, 421),
            ({"Host": "evil.example"}, 421),
            ({"Origin": "https://app.example.com"}, 200),
            ({"Origin": "http://app.example.com"}, 403),
            ({"Origin": "http://localhost:3000"}, 200),
        ]:
            response = await raw_post(http, url, initialize(), **headers)
            assert response.status_code == status, headers


async def test_workers_serve_stateless_calls_and_stop_cleanly(
    sandbox: RunningSandbox, server_process: StartProcess
) -> None:
    # Every call goes upstream; each worker logs at DEBUG, callers' keys kept out of it.
    env = server_env(sandbox.base_url, api_key=None, KUSHROUTER_MCP_CACHE_SIZE="0")
    process, port, log = server_process(
        {**env, "KUSHROUTER_MCP_LOG_LEVEL": "DEBUG"},
        "--key-mode", "per-request", "--stateless", "--workers", "2",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"
    # Each call may reach either worker; with no session to find, every one succeeds.
    for key, generation_id in ((ALICE_KEY, CHAT_ID), (BOB_KEY, BOB_ONLY_ID)):
        async with bearer_client(url, key, "legacy") as client:
            for _ in range(4):
                result = await client.call_tool("get_generation", {"id": generation_id})
                assert not result.is_error, result.content
    owners = sorted(r.key_owner for r in lookups(sandbox))
    assert owners == ["alice"] * 4 + ["bob"] * 4
    assert await wait_exit(process) == 0, log.read_text()
    logs = log.read_text()
    # In our format (the SDK's own handler would print bare messages, unscrubbed).
    assert "INFO kushrouter_mcp.upstream.client: GET generation" in logs, (
        "the workers must log through our handler"
    )
    assert ALICE_KEY not in logs and BOB_KEY not in logs


@pytest.mark.parametrize(("stateless", "mode"), [(False, "legacy"), (True, MODERN)])
async def test_sigterm_lets_an_in_flight_call_finish_then_exits_0(
    sandbox: RunningSandbox, server_process: StartProcess, stateless: bool, mode: str
) -> None:
    process, port, log = server_process(
        server_env(sandbox.base_url), "--graceful-timeout", "20", *(["--stateless"] if stateless else [])
    )
    async with bearer_client(f"http://127.0.0.1:{port}/mcp", None, mode) as client:
        await client.list_tools()  # the client fetches output schemas once; do it before the signal
        exit_code: list[int] = []

        async def terminate_soon() -> None:
            await anyio.sleep(0.5)
            exit_code.append(await wait_exit(process))

        started = time.monotonic()
        async with anyio.create_task_group() as group:
            group.start_soon(terminate_soon)
            result = await client.call_tool("get_generation", {"id": "sandbox-slow-1.5"})
    assert not result.is_error, result.content
    assert result.structured_content["id"] == "sandbox-slow-1.5"
    assert exit_code == [0], log.read_text()
    # Open SSE streams were ended, not waited out for the 20 s allowed to calls.
    assert time.monotonic() - started < 12
    async with httpx.AsyncClient() as http:  # and it is really gone
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
