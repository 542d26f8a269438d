"""The process helpers the tests, benches and CI share: real processes, real ports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kushrouter_mcp.sandbox.processes import (
    ProcessDidNotStart,
    clean_env,
    free_port,
    listening,
    running_sandbox,
    running_server,
    start_server,
    stop_process,
)
from kushrouter_mcp.sandbox.samples import ALICE_KEY


def test_the_clean_environment_holds_path_tls_trust_pythonpath_data_home_and_the_settings_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/custom.pem")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("KUSHROUTER_API_KEY", "kr_from_this_machine")
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("PYTHONPATH", "/checkout/server")
    monkeypatch.setenv("XDG_DATA_HOME", "/home/someone/.data")
    env = clean_env({"KUSHROUTER_BASE_URL": "http://127.0.0.1:9"})
    assert env == {
        "PATH": os.environ["PATH"],
        "SSL_CERT_FILE": "/etc/ssl/custom.pem",
        "PYTHONPATH": "/checkout/server",
        "XDG_DATA_HOME": "/home/someone/.data",
        "KUSHROUTER_BASE_URL": "http://127.0.0.1:9",
    }


def test_a_server_that_exits_is_reported_at_once_with_its_output(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; print('bad setting: KUSHROUTER_X'); sys.exit(2)"]
    started = time.monotonic()
    with pytest.raises(ProcessDidNotStart, match=r"exited with code 2[\s\S]*bad setting: KUSHROUTER_X"):
        start_server(argv, free_port(), {}, tmp_path / "log", timeout=60)
    assert time.monotonic() - started < 30  # the exit is seen, not the timeout awaited


def test_a_server_is_yielded_listening_and_stopped_after(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    with running_server(argv, port, {}, cwd=tmp_path) as server:
        assert httpx.get(f"http://127.0.0.1:{port}/", trust_env=False).status_code == 200
    assert server.process.returncode is not None
    assert not listening(port)


def test_stopping_a_process_group_ends_what_it_started() -> None:
    # A shell that starts a grandchild and waits for it, as the Inspector starts a stdio server.
    shell = subprocess.Popen(
        ["sh", "-c", "sleep 300 & echo $!; wait"], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert shell.stdout is not None
    grandchild = int(shell.stdout.readline())
    stop_process(shell, group=True)
    shell.stdout.close()
    deadline = time.monotonic() + 10
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie has ended


def test_the_sandbox_process_names_its_url_and_key_and_answers() -> None:
    with running_sandbox("--latency-ms", "1") as sandbox:
        assert sandbox.api_key == ALICE_KEY
        health = httpx.get(f"{sandbox.base_url}/_sandbox/health", trust_env=False)
        assert health.status_code == 200
    assert sandbox.process.returncode == 0  # SIGTERM is a clean stop
