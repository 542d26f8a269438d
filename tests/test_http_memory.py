"""Memory held by idle sessions is bounded: a large request's memory goes once it is answered."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import server_env, start_http_server
from http_helpers import JSON_HEADERS, initialize, rpc
from kushrouter_mcp.sandbox.processes import stop_process

SESSIONS = 10
PAYLOAD_CHARS = 8 * 1024 * 1024
# Today's SDK keeps each idle session's last request (body and all): ~10 x 8 MiB held, and more
# for each session that opened with a large initialize.
ALLOWED_GROWTH_MIB = 40


def rss_mib(process: subprocess.Popen[bytes]) -> float:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    # Extraction needs no upstream: nothing listens at this base URL, nothing is looked up.
    env = server_env("http://127.0.0.1:9", api_key=None, KUSHROUTER_MCP_MAX_BODY_BYTES=str(64 * 1024 * 1024))
    process, port, _ = start_http_server(env, tmp_path)
    try:
        yield process, f"http://127.0.0.1:{port}/mcp"
    finally:
        stop_process(process)


def _open_session(http: httpx.Client, url: str) -> dict[str, str]:
    answer = http.post(url, content=json.dumps(initialize()), headers=JSON_HEADERS)
    assert answer.status_code == 200, answer.text[:300]
    headers = {**JSON_HEADERS, "mcp-session-id": answer.headers["mcp-session-id"]}
    headers["mcp-protocol-version"] = "2025-11-25"
    http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return headers


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc")
def test_idle_sessions_do_not_keep_their_large_requests(server: tuple[subprocess.Popen[bytes], str]) -> None:
    process, url = server
    payload = "x" * PAYLOAD_CHARS
    with httpx.Client(timeout=60) as http:
        _open_session(http, url)  # warm up: imports, first allocations
        baseline = rss_mib(process)
        for number in range(2 * SESSIONS):
            if number % 2:
                # A session keeps what its initialize says (clientInfo) for its life: a large
                # opening request is refused, with what to send instead.
                opening = initialize()
                opening["params"]["clientInfo"]["description"] = payload
                refused = http.post(url, content=json.dumps(opening), headers=JSON_HEADERS)
                assert refused.status_code == 413, refused.text[:300]
                assert "must be an initialize request of at most 65,536 bytes" in refused.text
                continue
            headers = _open_session(http, url)
            call = rpc("tools/call", {"name": "extract_generation_id", "arguments": {"payload": payload}}, 2)
            answer = http.post(url, content=json.dumps(call), headers=headers)
            assert answer.status_code == 200 and "result" in answer.text, answer.text[:300]
        # Every session is now idle, none has timed out (30 min); their memory must be gone.
        deadline = time.monotonic() + 5
        while rss_mib(process) - baseline > ALLOWED_GROWTH_MIB and time.monotonic() < deadline:
            time.sleep(0.2)
        growth = rss_mib(process) - baseline
    assert growth <= ALLOWED_GROWTH_MIB, (
        f"{SESSIONS} idle sessions hold {growth:.0f} MiB more than at the start"
    )
