"""The command line as a user meets it: help, version, config errors, demo, sandbox."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx

from conftest import server_env
from kushrouter_mcp import __version__
from kushrouter_mcp.sandbox.samples import ALICE_KEY, CHAT_ID
from kushrouter_mcp.settings.table import ROWS


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kushrouter_mcp", *args],
        env=env or server_env("http://127.0.0.1:9", api_key=None),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_names_commands_and_every_setting() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    declared = (row.setting for row in ROWS)
    names = [name for setting in declared for name in (setting.env, setting.file_env, setting.flag) if name]
    for words in ("demo", "sandbox", "--transport", "stdio", "/mcp", *names):
        assert words in done.stdout


def test_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0 and __version__ in done.stdout


def test_a_bad_setting_stops_start_up_with_its_name() -> None:
    done = run_cli(env=server_env("http://127.0.0.1:9", KUSHROUTER_MAX_RETRIES="lots"))
    assert done.returncode == 2
    assert "KUSHROUTER_MAX_RETRIES" in done.stderr and done.stdout == ""
    done = run_cli(env=server_env("ftp://example.invalid"))
    assert done.returncode == 2 and "KUSHROUTER_BASE_URL" in done.stderr


def test_the_sandbox_refuses_a_non_loopback_address() -> None:
    done = run_cli("sandbox", "--host", "0.0.0.0", "--port", "0")
    assert done.returncode == 2 and done.stdout == ""
    assert "sandbox:" in done.stderr and "loopback" in done.stderr


def test_demo_runs_offline_and_prints_the_usage_table() -> None:
    done = run_cli("demo")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(" yes") == 3
    for family in ("openai.chat.completions", "openai.responses", "anthropic.messages"):
        assert family in done.stdout
    assert "isError=True" in done.stdout


def test_sandbox_command_prints_settings_and_serves() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "kushrouter_mcp", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env("http://127.0.0.1:9", api_key=None),
    )
    try:
        assert process.stdout is not None
        base_line, key_line = process.stdout.readline().strip(), process.stdout.readline().strip()
        assert base_line.startswith("KUSHROUTER_BASE_URL=http://127.0.0.1:")
        assert key_line == f"KUSHROUTER_API_KEY={ALICE_KEY}"
        base_url = base_line.split("=", 1)[1]
        response = httpx.get(
            f"{base_url}/api/v1/generations",
            params={"id": CHAT_ID},
            headers={"Authorization": f"Bearer {ALICE_KEY}"},
        )
        assert response.json()["generation"]["id"] == CHAT_ID
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]
