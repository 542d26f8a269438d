"""The sandbox upstream, exercised over real loopback TCP the way the MCP server will use it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

import kushrouter_mcp
from kushrouter_mcp.ledger import Ledger
from kushrouter_mcp.sandbox.api import SandboxState, _CoalescingTransport, create_app
from kushrouter_mcp.sandbox.runner import RunningSandbox, run_sandbox
from kushrouter_mcp.sandbox.samples import (
    ALICE_KEY,
    ANTHROPIC_ID,
    API_KEY_IDS,
    BOB_KEY,
    BOB_ONLY_ID,
    CHAT_ID,
    EXTRA_FIELDS_ID,
    RESPONSES_ACTION_ID,
    RESPONSES_ID,
    SAMPLE_PAYLOADS,
    SEED_RECORDS,
    WEIRD_ID,
)
from kushrouter_mcp.settings.keys import ApiKey

pytestmark = pytest.mark.anyio

PATH = "/api/v1/generations"
ALICE = {"Authorization": f"Bearer {ALICE_KEY}"}
BOB = {"Authorization": f"Bearer {BOB_KEY}"}
ALICE_IDS = [CHAT_ID, RESPONSES_ID, RESPONSES_ACTION_ID, ANTHROPIC_ID, EXTRA_FIELDS_ID, WEIRD_ID]
# One shared TLS context: httpx otherwise loads the CA bundle (~30 ms) for every loopback client.
TLS = ssl.create_default_context()
PACKAGE_ROOT = str(Path(kushrouter_mcp.__file__).resolve().parents[1])  # for the subprocess's sys.path
USAGE_FIELDS = {
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
}


@pytest.fixture
def state(sandbox: RunningSandbox) -> SandboxState:
    return sandbox.state  # conftest's `sandbox` resets it before and after each test


@pytest.fixture
async def client(sandbox: RunningSandbox, state: SandboxState) -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False: a proxy set in the environment must never see loopback test traffic.
    async with httpx.AsyncClient(base_url=sandbox.base_url, trust_env=False, verify=TLS, timeout=5) as http:
        yield http


async def lookup(http: httpx.AsyncClient, gen_id: str, headers: dict[str, str] = ALICE) -> httpx.Response:
    return await http.get(PATH, params={"id": gen_id}, headers=headers)


# --- Seeded records and access control ---------------------------------------------------------------


@pytest.mark.parametrize("gen_id", ALICE_IDS)
async def test_owner_reads_each_seeded_record_exactly(client: httpx.AsyncClient, gen_id: str) -> None:
    response = await lookup(client, gen_id)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"success": True, "generation": SEED_RECORDS[gen_id]}


async def test_bob_reads_his_own_record(client: httpx.AsyncClient) -> None:
    response = await lookup(client, BOB_ONLY_ID, BOB)
    assert response.json() == {"success": True, "generation": SEED_RECORDS[BOB_ONLY_ID]}
    assert response.json()["generation"]["apiKeyId"] == API_KEY_IDS["bob"]


def test_seed_records_have_the_documented_shape() -> None:
    endpoints = {record["endpoint"] for record in SEED_RECORDS.values()}
    assert endpoints == {"openai.chat.completions", "openai.responses", "anthropic.messages"}
    for gen_id, record in SEED_RECORDS.items():
        assert record["id"] == gen_id
        assert set(record["usage"]) == USAGE_FIELDS
        assert record["usage"]["total_tokens"] == (
            record["usage"]["prompt_tokens"] + record["usage"]["completion_tokens"]
        )
        assert isinstance(record["created_at"], int)
        assert ("status" in record) == (record["endpoint"] == "openai.responses")
    assert SEED_RECORDS[RESPONSES_ID]["usage"]["cache_read_input_tokens"] > 0
    assert SEED_RECORDS[RESPONSES_ACTION_ID]["status"] == "requires_action"
    assert SEED_RECORDS[RESPONSES_ACTION_ID]["finish_reason"] == "tool_calls"
    anthropic_usage = SEED_RECORDS[ANTHROPIC_ID]["usage"]
    assert anthropic_usage["cache_creation_input_tokens"] > 0
    assert anthropic_usage["cache_read_input_tokens"] > 0
    assert SEED_RECORDS[EXTRA_FIELDS_ID]["provider"] == {"name": "openai", "region": "us-east-1"}


@pytest.mark.parametrize(
    ("headers", "owner"),
    [
        ({}, None),
        ({"Authorization": "Bearer kr_live_not_a_sandbox_key"}, "unknown"),
        ({"Authorization": ALICE_KEY}, "unknown"),  # no Bearer scheme
    ],
)
async def test_missing_or_wrong_key_is_401(
    client: httpx.AsyncClient, state: SandboxState, headers: dict[str, str], owner: str | None
) -> None:
    response = await lookup(client, CHAT_ID, headers)
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid API key"}
    assert [received.key_owner for received in state.requests] == [owner]


async def test_other_keys_record_and_unknown_id_get_the_same_404(client: httpx.AsyncClient) -> None:
    foreign = await lookup(client, CHAT_ID, BOB)
    missing = await lookup(client, "chatcmpl-does-not-exist")
    also_foreign = await lookup(client, BOB_ONLY_ID)
    for response in (foreign, missing, also_foreign):
        assert response.status_code == 404
        assert response.json() == {"error": "Generation not found"}


MISSING_ID = "Missing required query parameter: id"
REPEATED_ID = "Query parameter id must be given only once"


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("", MISSING_ID),
        ("id=", MISSING_ID),
        ("other=1", MISSING_ID),
        (f"id={CHAT_ID}&id={CHAT_ID}", REPEATED_ID),
        (f"id={CHAT_ID}&id=", REPEATED_ID),
    ],
)
async def test_missing_empty_or_repeated_id_is_400(client: httpx.AsyncClient, query: str, error: str) -> None:
    response = await client.get(f"{PATH}?{query}", headers=ALICE)
    assert (response.status_code, response.json()) == (400, {"error": error})


# --- Query encoding and the singular alias ------------------------------------------------------------


async def test_weird_id_round_trips_through_query_encoding(
    client: httpx.AsyncClient, state: SandboxState
) -> None:
    response = await lookup(client, WEIRD_ID)
    assert response.json()["generation"]["id"] == WEIRD_ID
    (received,) = state.requests
    assert received.query == [("id", WEIRD_ID)]
    assert "&" not in received.raw_query  # the & inside the id arrived percent-encoded


async def test_singular_alias_redirects_with_the_same_raw_query(
    client: httpx.AsyncClient, state: SandboxState
) -> None:
    response = await client.get("/api/v1/generation", params={"id": WEIRD_ID}, headers=ALICE)
    assert response.status_code == 307
    raw_query = state.requests[0].raw_query
    assert response.headers["location"] == f"{PATH}?{raw_query}"

    followed = await client.get(
        "/api/v1/generation", params={"id": WEIRD_ID}, headers=ALICE, follow_redirects=True
    )
    assert followed.json() == {"success": True, "generation": SEED_RECORDS[WEIRD_ID]}
    assert [received.path for received in state.requests] == [
        "/api/v1/generation",
        "/api/v1/generation",
        PATH,
    ]
    assert state.requests[-1].query == [("id", WEIRD_ID)]


# --- Magic fault ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 413, 429, 500, 502, 503, 504])
async def test_magic_status_ids(client: httpx.AsyncClient, status: int) -> None:
    response = await lookup(client, f"sandbox-status-{status}")
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"], str)
    assert body["error"]
    if status == 429:
        assert response.headers["retry-after"] == "1"
        assert response.headers["x-ratelimit-remaining"] == "0"
        assert int(response.headers["x-ratelimit-limit"]) > 0
        assert int(response.headers["x-ratelimit-reset"]) >= int(time.time())


async def test_magic_ids_need_a_valid_key(client: httpx.AsyncClient) -> None:
    assert (await lookup(client, "sandbox-status-503", {})).status_code == 401


async def test_magic_ids_work_for_bob_too(client: httpx.AsyncClient) -> None:
    assert (await lookup(client, "sandbox-status-502", BOB)).status_code == 502


async def test_malformed_json(client: httpx.AsyncClient) -> None:
    response = await lookup(client, "sandbox-malformed-json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


async def test_wrong_shape_and_success_false(client: httpx.AsyncClient) -> None:
    wrong_shape = await lookup(client, "sandbox-wrong-shape")
    assert (wrong_shape.status_code, wrong_shape.json()) == (200, {"success": True, "data": []})
    failed = await lookup(client, "sandbox-success-false")
    assert failed.status_code == 200
    assert failed.json() == {"success": False, "error": "Generation lookup failed"}


async def test_html_page(client: httpx.AsyncClient) -> None:
    response = await lookup(client, "sandbox-html")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().lower().startswith("<!doctype html")


async def test_slow_id_waits_then_answers_a_record_with_that_id(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    response = await lookup(client, "sandbox-slow-0.2")
    assert time.monotonic() - started >= 0.2
    generation = response.json()["generation"]
    assert generation["id"] == "sandbox-slow-0.2"
    assert generation["apiKeyId"] == API_KEY_IDS["alice"]
    assert generation["endpoint"] == "openai.chat.completions"


async def test_slow_request_abandoned_by_its_client_does_not_block_others(client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.ReadTimeout):
        await client.get(PATH, params={"id": "sandbox-slow-30"}, headers=ALICE, timeout=0.1)
    assert (await lookup(client, CHAT_ID)).status_code == 200


async def test_redirect_loop(client: httpx.AsyncClient) -> None:
    response = await lookup(client, "sandbox-redirect-loop")
    assert response.status_code == 307
    assert response.headers["location"] == f"{PATH}?id=sandbox-redirect-loop"
    with pytest.raises(httpx.TooManyRedirects):
        await client.get(PATH, params={"id": "sandbox-redirect-loop"}, headers=ALICE, follow_redirects=True)


async def test_reset_drops_the_connection_without_a_response(client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.TransportError):
        await lookup(client, "sandbox-reset")
    assert (await lookup(client, CHAT_ID)).status_code == 200  # the server itself carries on


async def test_reset_id_served_by_another_server_says_what_it_needs() -> None:
    # create_app() under some other ASGI server has no connection to reset: say so, not a bare 500.
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        with pytest.raises(RuntimeError, match=r"run_sandbox\(\) or serve_forever\(\)"):
            await lookup(http, "sandbox-reset")


# --- Fault queue, latency, reset --------------------------------------------------------------------


async def test_fault_queue_two_503_then_normal(client: httpx.AsyncClient, state: SandboxState) -> None:
    state.add_fault(503, times=2)
    statuses = [(await lookup(client, CHAT_ID)).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


async def test_fault_answers_any_id_but_only_after_auth(
    client: httpx.AsyncClient, state: SandboxState
) -> None:
    state.add_fault(500)
    assert (await lookup(client, CHAT_ID, {})).status_code == 401  # does not use up the fault
    response = await lookup(client, "anything-at-all", BOB)
    assert response.status_code == 500
    assert set(response.json()) == {"error"}
    assert (await lookup(client, BOB_ONLY_ID, BOB)).status_code == 200


@pytest.mark.parametrize("retry_after", ["1", formatdate(time.time() + 2, usegmt=True)])
async def test_fault_429_with_retry_after_then_success(
    client: httpx.AsyncClient, state: SandboxState, retry_after: str
) -> None:
    state.add_fault(429, retry_after=retry_after)
    limited = await lookup(client, CHAT_ID)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == retry_after
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert (await lookup(client, CHAT_ID)).status_code == 200


async def test_fault_without_retry_after_sends_none(client: httpx.AsyncClient, state: SandboxState) -> None:
    state.add_fault(429)
    assert "retry-after" not in (await lookup(client, CHAT_ID)).headers


async def test_fault_custom_body_and_delay(client: httpx.AsyncClient, state: SandboxState) -> None:
    state.add_fault(200, body=b"not json at all", delay=0.1)
    started = time.monotonic()
    response = await lookup(client, CHAT_ID)
    assert time.monotonic() - started >= 0.1
    assert (response.status_code, response.content) == (200, b"not json at all")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": 99},
        {"status": 600},
        {"status": 503, "times": 0},
        {"status": 503, "delay": -1.0},
        {"status": 429, "retry_after": "1\r\nX-Evil: 1"},
    ],
)
def test_add_fault_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        SandboxState().add_fault(**kwargs)


async def test_latency_is_added_to_every_generations_response(
    client: httpx.AsyncClient, state: SandboxState
) -> None:
    state.latency_seconds = 0.15
    for headers in (ALICE, {}):
        started = time.monotonic()
        await lookup(client, CHAT_ID, headers)
        assert time.monotonic() - started >= 0.15


async def test_reset_clears_faults_latency_and_log(client: httpx.AsyncClient, state: SandboxState) -> None:
    state.add_fault(503, times=5)
    state.latency_seconds = 5.0
    await client.get("/nowhere")
    state.reset()
    assert state.requests == []
    assert state.latency_seconds == 0.0
    assert (await lookup(client, CHAT_ID)).status_code == 200


# --- Headers, request log, control endpoints ----------------------------------------------------------


async def test_every_response_has_a_request_id(client: httpx.AsyncClient) -> None:
    responses = [
        await lookup(client, CHAT_ID),
        await lookup(client, CHAT_ID, {}),
        await lookup(client, "nope"),
        await client.get("/api/v1/generation?id=x"),
        await client.get("/_sandbox/health"),
        await client.get("/not/a/route"),
        await client.delete(PATH),
    ]
    ids = [response.headers["x-request-id"] for response in responses]
    assert all(re.fullmatch(r"req_sbx_[0-9a-f]+", request_id) for request_id in ids)
    assert len(set(ids)) == len(ids)
    # Even unknown routes answer JSON errors, but not the generations route's "not found".
    assert responses[-2].json() == {"error": "Cannot GET /not/a/route"}
    assert responses[-1].status_code == 405


async def test_request_log_never_holds_a_raw_key(client: httpx.AsyncClient, state: SandboxState) -> None:
    wrong_key = "kr_live_secret_that_must_not_be_logged"
    await lookup(client, CHAT_ID, ALICE)
    await lookup(client, CHAT_ID, BOB)
    await lookup(client, CHAT_ID, {"Authorization": f"Bearer {wrong_key}"})
    logged = repr(state.requests) + (await client.get("/_sandbox/requests")).text
    for secret in (ALICE_KEY, BOB_KEY, wrong_key):
        assert secret not in logged
    assert [received.key_owner for received in state.requests] == ["alice", "bob", "unknown"]


async def test_control_endpoints(client: httpx.AsyncClient, state: SandboxState) -> None:
    health = await client.get("/_sandbox/health")
    assert health.status_code == 200

    await client.get(PATH, params=[("id", WEIRD_ID), ("x", "1"), ("x", "2")], headers=ALICE)
    (logged,) = (await client.get("/_sandbox/requests")).json()["requests"]
    assert logged["method"] == "GET"
    assert logged["path"] == PATH
    assert logged["key_owner"] == "alice"
    assert logged["query"] == [["id", WEIRD_ID], ["x", "1"], ["x", "2"]]
    assert logged["raw_query"] == state.requests[0].raw_query

    fault = {"status": 503, "times": 1, "retry_after": "2", "body": '{"error": "down"}', "delay": 0}
    assert (await client.post("/_sandbox/faults", json=fault)).status_code == 200
    down = await lookup(client, CHAT_ID)
    assert (down.status_code, down.json(), down.headers["retry-after"]) == (503, {"error": "down"}, "2")

    assert (await client.post("/_sandbox/latency", json={"seconds": 0.05})).status_code == 200
    assert state.latency_seconds == 0.05

    assert (await client.post("/_sandbox/reset")).status_code == 200
    assert state.latency_seconds == 0.0
    assert state.requests == []  # control calls themselves are never logged


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_sandbox/faults", {"status": "503"}),
        ("/_sandbox/faults", {"status": 503, "times": 0}),
        ("/_sandbox/faults", {"status": 503, "typo": 1}),
        ("/_sandbox/faults", {"status": 503, "retry_after": "1\r\nX-Evil: 1"}),
        ("/_sandbox/faults", [503]),
        ("/_sandbox/latency", {"seconds": -1}),
        ("/_sandbox/latency", {"seconds": True}),
        ("/_sandbox/latency", {}),
    ],
)
async def test_control_endpoints_reject_bad_input(client: httpx.AsyncClient, path: str, body: Any) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}


async def test_control_endpoints_reject_non_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/_sandbox/latency", content=b"0.05")
    assert response.status_code == 400


# --- Transport behaviour ------------------------------------------------------------------------------


async def test_round_trips_do_not_stall(client: httpx.AsyncClient) -> None:
    # Nagle + delayed ACK would cost ~40 ms per request on a keep-alive connection.
    timings = []
    for _ in range(30):
        started = time.perf_counter()
        await lookup(client, CHAT_ID)
        timings.append(time.perf_counter() - started)
    assert statistics.median(timings) < 0.02


class _RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


async def test_writes_of_one_loop_iteration_leave_in_one_piece() -> None:
    inner = _RecordingTransport()
    transport = _CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"")
    transport.write(b"{}")
    assert inner.writes == []
    await anyio.lowlevel.checkpoint()
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    transport.write(b"tail")
    transport.close()  # flushes before closing
    assert inner.writes[-1] == b"tail"
    assert inner.closed


# --- Running it -------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "localhost", "example.com", "::"])
def test_refuses_non_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"), run_sandbox(host=host):
        pass


async def test_close_with_a_request_in_flight_is_quick_and_leaks_no_thread() -> None:
    outcome: list[BaseException] = []
    with run_sandbox() as running:

        async def stuck_request() -> None:
            async with httpx.AsyncClient(base_url=running.base_url, trust_env=False, verify=TLS) as http:
                try:
                    await lookup(http, "sandbox-slow-30")
                except httpx.TransportError as exc:
                    outcome.append(exc)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(stuck_request)
            await anyio.sleep(0.1)
            started = time.monotonic()
            await anyio.to_thread.run_sync(running.close)
            assert time.monotonic() - started < 1.5
    assert len(outcome) == 1
    assert f"kushrouter-sandbox-{running.port}" not in {thread.name for thread in threading.enumerate()}


def test_ipv6_loopback() -> None:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("IPv6 loopback unavailable")
    with run_sandbox(host="::1") as running, httpx.Client(trust_env=False, verify=TLS) as http:
        assert running.base_url == f"http://[::1]:{running.port}"
        response = http.get(f"{running.base_url}{PATH}", params={"id": CHAT_ID}, headers=ALICE)
    assert response.status_code == 200


def test_serve_forever_prints_the_env_lines_then_stops_on_sigterm() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
    }
    code = (
        "import sys; from kushrouter_mcp.sandbox.runner import serve_forever as s; "
        "sys.exit(s('127.0.0.1', 0))"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        first, second = process.stdout.readline(), process.stdout.readline()
        assert re.fullmatch(r"KUSHROUTER_BASE_URL=http://127\.0\.0\.1:\d+\n", first)
        assert second == f"KUSHROUTER_API_KEY={ALICE_KEY}\n"
        base_url = first.strip().partition("=")[2]
        with httpx.Client(base_url=base_url, trust_env=False, verify=TLS) as http:
            assert http.get(PATH, params={"id": CHAT_ID}, headers=ALICE).status_code == 200
        banner = [process.stdout.readline()]
        while banner[-1] and "KUSHROUTER_MCP_LEDGER=" not in banner[-1]:
            banner.append(process.stdout.readline())
        suggested = Path(banner[-1].strip().removeprefix("export KUSHROUTER_MCP_LEDGER="))
        assert suggested.is_absolute(), banner
        # The throwaway ledger it suggests takes writes while it runs, in a directory only its owner enters.
        assert (suggested.parent.stat().st_mode & 0o777) == 0o700 and not suggested.exists()
        ledger = Ledger(suggested)
        ledger.record(ApiKey(ALICE_KEY), SEED_RECORDS[CHAT_ID])
        assert ledger.flush() and ledger.problem is None and suggested.is_file()
        ledger.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        rest = "".join(banner) + process.stdout.read()
        assert f"export KUSHROUTER_BASE_URL={base_url}" in rest
        assert BOB_KEY in rest
        assert "sandbox-reset" in rest
        assert "Traceback" not in process.stderr.read()
    assert not suggested.parent.exists(), "the throwaway ledger goes with the sandbox"


# --- Sample payloads ----------------------------------------------------------------------------------


def _sse_data(text: str) -> list[str]:
    return [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]


def test_chat_sample_stream_agrees_with_its_record() -> None:
    stream = SAMPLE_PAYLOADS["openai.chat.completions"]
    data = _sse_data(stream)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    assert {chunk["id"] for chunk in chunks} == {CHAT_ID}
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    usage, record_usage = chunks[-1]["usage"], SEED_RECORDS[CHAT_ID]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (121, 345, 466)
    assert usage["prompt_tokens_details"]["cached_tokens"] == record_usage["cache_read_input_tokens"] == 0
    assert "\n\n\n" not in stream


def test_responses_sample_body_agrees_with_its_record() -> None:
    body = json.loads(SAMPLE_PAYLOADS["openai.responses"])
    record = SEED_RECORDS[RESPONSES_ID]
    assert (body["id"], body["object"], body["status"]) == (RESPONSES_ID, "response", record["status"])
    message = next(item for item in body["output"] if item["type"] == "message")
    assert message["id"].startswith("msg_")
    assert message["content"][0]["type"] == "output_text"
    usage = body["usage"]
    assert usage["input_tokens"] == record["usage"]["prompt_tokens"]
    assert usage["output_tokens"] == record["usage"]["completion_tokens"]
    assert usage["total_tokens"] == record["usage"]["total_tokens"]
    assert usage["input_tokens_details"]["cached_tokens"] == record["usage"]["cache_read_input_tokens"]


def test_anthropic_sample_stream_agrees_with_its_record() -> None:
    stream = SAMPLE_PAYLOADS["anthropic.messages"]
    events = re.findall(r"^event: (\S+)$", stream, flags=re.MULTILINE)
    assert events[0] == "message_start"
    assert events[-2:] == ["message_delta", "message_stop"]
    assert {"content_block_start", "content_block_delta", "content_block_stop", "ping"} <= set(events)
    payloads = [json.loads(item) for item in _sse_data(stream)]
    assert [payload["type"] for payload in payloads] == events
    start, delta = payloads[0]["message"], payloads[-2]
    usage = SEED_RECORDS[ANTHROPIC_ID]["usage"]
    assert start["id"] == ANTHROPIC_ID
    assert start["usage"]["input_tokens"] == usage["prompt_tokens"]
    assert start["usage"]["cache_creation_input_tokens"] == usage["cache_creation_input_tokens"]
    assert start["usage"]["cache_read_input_tokens"] == usage["cache_read_input_tokens"]
    assert delta["delta"]["stop_reason"] == SEED_RECORDS[ANTHROPIC_ID]["finish_reason"] == "end_turn"
    assert delta["usage"]["output_tokens"] == usage["completion_tokens"]
