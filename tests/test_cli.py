"""The command line as a user meets it: help, version, config errors, demo, sandbox."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import LEAK_CANARY, free_port, server_env
from kushrouter_mcp import __version__
from kushrouter_mcp.sandbox.samples import (
    ALICE_KEY,
    ANTHROPIC_ID,
    CHAT_ID,
    RESPONSES_ID,
    SEED_RECORDS,
    UNPRICED_ID,
)
from kushrouter_mcp.settings.table import ROWS


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kushrouter_mcp", *args],
        env=env or server_env("http://127.0.0.1:9", api_key=None),
        stdin=subprocess.DEVNULL,  # stdio mode ends at once instead of waiting for a client
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


def test_demo_ends_with_the_report_of_what_it_looked_up_and_leaves_no_ledger(tmp_path: Path) -> None:
    data, scratch = tmp_path / "data", tmp_path / "tmp"
    data.mkdir()
    scratch.mkdir()
    # Its temporary files go to `scratch`; a server on the default ledger would write in `data`.
    done = run_cli(
        "demo", env=server_env("http://127.0.0.1:9", None, XDG_DATA_HOME=str(data), TMPDIR=str(scratch))
    )
    assert done.returncode == 0, done.stderr
    report = done.stdout.partition("usage_report {")[2]
    assert report, done.stdout
    looked_up = [SEED_RECORDS[gen_id] for gen_id in (CHAT_ID, RESPONSES_ID, ANTHROPIC_ID, UNPRICED_ID)]
    columns = ("prompt_tokens", "completion_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    lines = report.splitlines()
    for record in looked_up:
        (row,) = [line.split() for line in lines if line.startswith(record["model"] + " ")]
        assert row[1:6] == ["1", *(f"{record['usage'][name]:,}" for name in columns)], row
    (total,) = [line.split() for line in lines if line.startswith("total ")]
    sums = [sum(record["usage"][name] for record in looked_up) for name in columns]
    assert total[1:6] == [str(len(looked_up)), *(f"{value:,}" for value in sums)]
    assert total[-2:] == ["(1", "unpriced)"]  # kush-support-ft-7b has no list price
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == [], "the demo's ledger is gone"


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


def assert_one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """A refusal as users should meet it: exit 2, nothing on stdout, one line naming the fix."""
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("kushrouter-mcp: error: ") and done.stderr.count("\n") == 1, done.stderr
    for word in words:
        assert word in done.stderr
    return done.stderr


@pytest.mark.parametrize("port", ["99999", "-1", "0", "eighty"])
def test_a_port_out_of_range_is_refused_before_serving(port: str) -> None:
    done = run_cli("--transport", "http", "--port", port)
    assert_one_line_error(done, f"--port {port}", "1 to 65535")
    assert "serving" not in done.stderr


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", free_port())) as listener:
        yield listener.getsockname()[1]


def test_a_port_in_use_is_one_line_that_says_what_to_do(busy_port: int) -> None:
    done = run_cli("--transport", "http", "--port", str(busy_port))
    line = assert_one_line_error(done)
    assert line == f"kushrouter-mcp: error: port {busy_port} is in use: pick another with --port.\n"


def test_the_sandbox_port_follows_the_same_rules(busy_port: int) -> None:
    assert_one_line_error(run_cli("sandbox", "--port", "99999"), "sandbox --port 99999", "0 to 65535")
    done = run_cli("sandbox", "--port", str(busy_port))
    assert_one_line_error(done, f"sandbox: port {busy_port} is in use: pick another with --port")


@pytest.mark.parametrize(
    "args",
    [
        ("--port", "8000"),
        ("--host", "0.0.0.0", "--workers", "2"),
        ("--stateless",),
        ("--max-body-bytes", "4096"),
    ],
)
def test_http_flags_with_stdio_are_refused(args: tuple[str, ...]) -> None:
    assert_one_line_error(run_cli(*args), args[0], "--transport http only")


@pytest.mark.parametrize(
    ("args", "variable"),
    [
        (("--api-key", LEAK_CANARY), "KUSHROUTER_API_KEY"),
        ((f"--api-key={LEAK_CANARY}",), "KUSHROUTER_API_KEY"),
        (("--transport", "http", "--key", LEAK_CANARY), "KUSHROUTER_API_KEY"),
        (("--KushRouter_API_Key", LEAK_CANARY), "KUSHROUTER_API_KEY"),
        (("--base-url", "http://127.0.0.1:8787"), "KUSHROUTER_BASE_URL"),
        (("--token", LEAK_CANARY), "KUSHROUTER_MCP_TOKENS"),
        (("--tokens", LEAK_CANARY), "KUSHROUTER_MCP_TOKENS_FILE"),
        (("sandbox", "--token-file", "tokens.txt"), "KUSHROUTER_MCP_TOKENS_FILE"),
    ],
)
def test_guessed_options_point_to_their_variable_without_echoing_the_value(
    args: tuple[str, ...], variable: str
) -> None:
    line = assert_one_line_error(run_cli(*args), variable, "is no")
    assert LEAK_CANARY not in line and "invalid choice" not in line


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--frobnicate", LEAK_CANARY), ("unrecognized arguments: --frobnicate", "--help")),
        (("--transport", "carrier-pigeon"), ("invalid choice: 'carrier-pigeon'", "kushrouter-mcp --help")),
        ((LEAK_CANARY,), ("invalid choice", "kushrouter-mcp --help")),
        (("sandbox", "--latency-ms", "soon"), ("--latency-ms", "kushrouter-mcp sandbox --help")),
    ],
)
def test_other_usage_errors_say_where_help_is(args: tuple[str, ...], words: tuple[str, ...]) -> None:
    line = assert_one_line_error(run_cli(*args), *words)
    assert LEAK_CANARY not in line
