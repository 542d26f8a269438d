"""The API client against the sandbox over real TCP: records, every failure kind, retries, time budget."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import anyio
import anyio.abc
import httpx
import pytest

from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import (
    ALICE_KEY,
    ANTHROPIC_ID,
    BOB_KEY,
    BOB_ONLY_ID,
    CHAT_ID,
    EXTRA_FIELDS_ID,
    RESPONSES_ACTION_ID,
    SEED_RECORDS,
    WEIRD_ID,
)
from kushrouter_mcp.settings.config import Settings
from kushrouter_mcp.settings.keys import ApiKey
from kushrouter_mcp.upstream.client import GenerationsApi, new_http_client
from kushrouter_mcp.upstream.failures import LookupFailed

pytestmark = pytest.mark.anyio

ApiFactory = Callable[..., GenerationsApi]


class RecordedSleep:
    """Stands in for anyio.sleep so retry tests assert the waits without spending them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def make_api(sandbox: RunningSandbox) -> AsyncIterator[ApiFactory]:
    clients = []

    def make(base_url: str | None = None, key: str | None = ALICE_KEY, **settings: object) -> GenerationsApi:
        config = Settings(
            api_key=ApiKey(key) if key else None,
            base_url=base_url or sandbox.base_url,
            **settings,  # type: ignore[arg-type]
        )
        http = new_http_client(config)
        clients.append(http)
        return GenerationsApi(config, http)

    yield make
    for http in clients:
        await http.aclose()


async def lookup(api: GenerationsApi, generation_id: str) -> dict[str, object]:
    """A lookup with the key the api's settings hold, as a stdio server makes it."""
    return (await api.lookup(generation_id, api.settings.api_key)).record


def api_with_sleep(
    sandbox: RunningSandbox, sleep: RecordedSleep, key: str = ALICE_KEY, **kw: object
) -> tuple[GenerationsApi, httpx.AsyncClient]:
    config = Settings(api_key=ApiKey(key), base_url=sandbox.base_url, **kw)  # type: ignore[arg-type]
    http = new_http_client(config)
    return GenerationsApi(config, http, sleep=sleep, jitter=lambda: 1.0), http


@pytest.mark.parametrize("generation_id", [CHAT_ID, ANTHROPIC_ID, RESPONSES_ACTION_ID, WEIRD_ID])
async def test_returns_the_record_as_seeded(make_api: ApiFactory, generation_id: str) -> None:
    record = await lookup(make_api(), generation_id)
    assert record == SEED_RECORDS[generation_id]


async def test_fields_the_api_adds_later_pass_through(make_api: ApiFactory) -> None:
    record = await lookup(make_api(), EXTRA_FIELDS_ID)
    seeded = SEED_RECORDS[EXTRA_FIELDS_ID]
    assert record["cost"] == seeded["cost"]
    assert record["provider"] == seeded["provider"]
    assert record["latency_ms"] == seeded["latency_ms"]


async def test_id_is_one_encoded_query_parameter(make_api: ApiFactory, sandbox: RunningSandbox) -> None:
    await lookup(make_api(), WEIRD_ID)
    (request,) = sandbox.state.requests
    assert request.query == [("id", WEIRD_ID)]
    assert "&b=" not in request.raw_query and "#" not in request.raw_query
    assert request.key_owner == "alice"


async def test_uses_the_bearer_key_of_the_call(make_api: ApiFactory, sandbox: RunningSandbox) -> None:
    record = await lookup(make_api(key=BOB_KEY), BOB_ONLY_ID)
    assert record["id"] == BOB_ONLY_ID
    assert [r.key_owner for r in sandbox.state.requests] == ["bob"]


async def test_no_key_explains_how_to_set_it(make_api: ApiFactory, sandbox: RunningSandbox) -> None:
    with pytest.raises(LookupFailed) as caught:
        await lookup(make_api(key=None), CHAT_ID)
    assert caught.value.kind == "no_key"
    assert "KUSHROUTER_API_KEY" in caught.value.message
    assert sandbox.state.requests == []


@pytest.mark.parametrize(
    ("generation_id", "key", "kind", "status", "words"),
    [
        (CHAT_ID, "kr_live_wrong_key_123", "unauthorized", 401, "KUSHROUTER_API_KEY"),
        ("sandbox-status-401", ALICE_KEY, "unauthorized", 401, "KUSHROUTER_API_KEY"),
        ("sandbox-status-403", ALICE_KEY, "forbidden", 403, "created"),
        ("sandbox-status-400", ALICE_KEY, "rejected", 400, "400"),
        ("sandbox-status-402", ALICE_KEY, "rejected", 402, "credit"),
        ("sandbox-status-413", ALICE_KEY, "rejected", 413, "413"),
        (BOB_ONLY_ID, ALICE_KEY, "not_found", 404, "only the API key that created"),
        ("chatcmpl-unknown-123", ALICE_KEY, "not_found", 404, "7 days"),
    ],
)
async def test_non_retryable_failures_answer_at_once(
    make_api: ApiFactory,
    sandbox: RunningSandbox,
    generation_id: str,
    key: str,
    kind: str,
    status: int,
    words: str,
) -> None:
    with pytest.raises(LookupFailed) as caught:
        await lookup(make_api(key=key), generation_id)
    failure = caught.value
    assert (failure.kind, failure.status) == (kind, status)
    assert words in failure.message
    assert failure.request_id and failure.request_id in failure.message
    assert len(sandbox.state.requests) == 1, "must not retry"


async def test_not_found_names_the_id_and_the_wait(make_api: ApiFactory) -> None:
    with pytest.raises(LookupFailed) as caught:
        await lookup(make_api(), "chatcmpl-unknown-123")
    assert "chatcmpl-unknown-123" in caught.value.message
    assert "few seconds" in caught.value.message


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_retried_with_backoff(sandbox: RunningSandbox, status: int) -> None:
    sleep = RecordedSleep()
    api, http = api_with_sleep(sandbox, sleep)
    sandbox.state.add_fault(status, times=2)
    async with http:
        record = await lookup(api, CHAT_ID)
    assert record["id"] == CHAT_ID
    assert len(sandbox.state.requests) == 3
    assert len(sleep.waits) == 2 and sleep.waits[1] > sleep.waits[0] > 0


async def test_server_errors_give_up_after_the_retry_budget(sandbox: RunningSandbox) -> None:
    sleep = RecordedSleep()
    api, http = api_with_sleep(sandbox, sleep, max_retries=2)
    async with http:
        with pytest.raises(LookupFailed) as caught:
            await lookup(api, "sandbox-status-503")
    assert caught.value.kind == "upstream_error" and caught.value.status == 503
    assert "3 attempts" in caught.value.message
    assert len(sandbox.state.requests) == 3


async def test_backoff_is_capped(sandbox: RunningSandbox) -> None:
    sleep = RecordedSleep()
    api, http = api_with_sleep(sandbox, sleep, max_retries=10, timeout_seconds=600)
    async with http:
        with pytest.raises(LookupFailed):
            await lookup(api, "sandbox-status-500")
    assert max(sleep.waits) <= 8.0
    assert len(sleep.waits) == 10


@pytest.mark.parametrize("retry_after", ["2", "HTTP-DATE"])
async def test_rate_limit_honours_retry_after(sandbox: RunningSandbox, retry_after: str) -> None:
    if retry_after == "HTTP-DATE":
        retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    sleep = RecordedSleep()
    api, http = api_with_sleep(sandbox, sleep)
    sandbox.state.add_fault(429, times=1, retry_after=retry_after)
    async with http:
        record = await lookup(api, CHAT_ID)
    assert record["id"] == CHAT_ID
    (wait,) = sleep.waits
    assert 1.0 <= wait <= 3.0


async def test_rate_limit_with_real_wait(make_api: ApiFactory, sandbox: RunningSandbox) -> None:
    sandbox.state.add_fault(429, times=1, retry_after="1")
    started = time.monotonic()
    record = await lookup(make_api(), ANTHROPIC_ID)
    assert record["id"] == ANTHROPIC_ID
    assert time.monotonic() - started >= 0.9


async def test_rate_limit_longer_than_the_budget_is_not_waited(
    make_api: ApiFactory, sandbox: RunningSandbox
) -> None:
    sandbox.state.add_fault(429, times=5, retry_after="45")
    started = time.monotonic()
    with pytest.raises(LookupFailed) as caught:
        await lookup(make_api(timeout_seconds=5), CHAT_ID)
    assert time.monotonic() - started < 2
    assert caught.value.kind == "rate_limited"
    assert "45 s" in caught.value.message and "KUSHROUTER_TIMEOUT" in caught.value.message


async def test_a_hanging_upstream_is_bounded_by_the_budget(make_api: ApiFactory) -> None:
    started = time.monotonic()
    with pytest.raises(LookupFailed) as caught:
        await lookup(make_api(timeout_seconds=1.5), "sandbox-slow-30")
    elapsed = time.monotonic() - started
    assert caught.value.kind == "timeout"
    assert "1.5 s" in caught.value.message
    assert elapsed < 3


async def test_connection_refused_is_unreachable(make_api: ApiFactory) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleep = RecordedSleep()
    config = Settings(api_key=ApiKey(ALICE_KEY), base_url=f"http://127.0.0.1:{port}", max_retries=2)
    async with new_http_client(config) as http:
        with pytest.raises(LookupFailed) as caught:
            await lookup(GenerationsApi(config, http, sleep=sleep), CHAT_ID)
    assert caught.value.kind == "unreachable"
    assert "KUSHROUTER_BASE_URL" in caught.value.message
    assert len(sleep.waits) == 2, "connection errors are retried"


async def test_connection_reset_is_retried_then_reported(sandbox: RunningSandbox) -> None:
    sleep = RecordedSleep()
    api, http = api_with_sleep(sandbox, sleep, max_retries=1)
    async with http:
        with pytest.raises(LookupFailed) as caught:
            await lookup(api, "sandbox-reset")
    assert caught.value.kind in ("unreachable", "timeout")
    assert len(sandbox.state.requests) == 2


@pytest.mark.parametrize(
    ("generation_id", "detail"),
    [
        ("sandbox-malformed-json", "not JSON"),
        ("sandbox-html", "text/html"),
        ("sandbox-wrong-shape", "no generation object"),
        ("sandbox-success-false", "success is False"),
    ],
)
async def test_a_200_of_the_wrong_shape_is_reported(
    make_api: ApiFactory, generation_id: str, detail: str
) -> None:
    with pytest.raises(LookupFailed) as caught:
        await lookup(make_api(), generation_id)
    assert caught.value.kind == "bad_response"
    assert detail in caught.value.message
    assert "KUSHROUTER_BASE_URL" in caught.value.message


async def test_a_record_without_id_is_the_wrong_shape(make_api: ApiFactory, sandbox: RunningSandbox) -> None:
    sandbox.state.add_fault(200, body=b'{"success": true, "generation": {"model": "x"}}')
    with pytest.raises(LookupFailed) as caught:
        await lookup(make_api(), CHAT_ID)
    assert "generation.id" in caught.value.message


async def test_a_redirect_loop_is_reported(make_api: ApiFactory, sandbox: RunningSandbox) -> None:
    with pytest.raises(LookupFailed) as caught:
        await lookup(make_api(), "sandbox-redirect-loop")
    assert caught.value.kind == "bad_response"
    assert "redirect" in caught.value.message


async def test_an_oversized_body_is_not_read_into_memory(
    make_api: ApiFactory, sandbox: RunningSandbox
) -> None:
    huge_id = b"x" * (5 * 1024 * 1024)
    sandbox.state.add_fault(200, body=b'{"success": true, "generation": {"id": "' + huge_id + b'"}}')
    with pytest.raises(LookupFailed) as caught:
        await lookup(make_api(), CHAT_ID)
    assert caught.value.kind == "bad_response"
    assert "over 4,194,304 bytes" in caught.value.message


async def test_every_5xx_is_retried_and_other_4xx_are_not(sandbox: RunningSandbox) -> None:
    sleep = RecordedSleep()
    api, http = api_with_sleep(sandbox, sleep)
    sandbox.state.add_fault(501, times=1)
    async with http:
        assert (await lookup(api, CHAT_ID))["id"] == CHAT_ID
        assert len(sleep.waits) == 1
        sandbox.state.add_fault(418, times=1)
        with pytest.raises(LookupFailed) as caught:
            await lookup(api, ANTHROPIC_ID)  # not CHAT_ID: that one is cached now
    assert (caught.value.kind, caught.value.status) == ("rejected", 418)
    assert "418" in caught.value.message
    assert len(sleep.waits) == 1, "a 418 is not retried"


async def test_the_upstream_error_text_is_quoted_in_either_form(
    make_api: ApiFactory, sandbox: RunningSandbox
) -> None:
    sandbox.state.add_fault(400, body=b'{"error": {"message": "id is   malformed", "type": "invalid"}}')
    with pytest.raises(LookupFailed) as caught:
        await lookup(make_api(), CHAT_ID)
    assert 'KushRouter said: "id is malformed"' in caught.value.message


async def test_an_oversized_error_page_names_its_status(
    make_api: ApiFactory, sandbox: RunningSandbox
) -> None:
    sandbox.state.add_fault(500, body=b"x" * (5 * 1024 * 1024))
    with pytest.raises(LookupFailed) as caught:
        await lookup(make_api(), CHAT_ID)
    assert caught.value.kind == "bad_response"
    assert "answered 500" in caught.value.message


async def test_without_a_client_it_makes_one_on_first_use_and_closes_it(sandbox: RunningSandbox) -> None:
    unused = GenerationsApi(Settings(api_key=ApiKey(ALICE_KEY), base_url=sandbox.base_url))
    await unused.aclose()  # nothing was made, nothing to close
    api = GenerationsApi(Settings(api_key=ApiKey(ALICE_KEY), base_url=sandbox.base_url))
    assert (await lookup(api, CHAT_ID))["id"] == CHAT_ID
    assert (await lookup(api, ANTHROPIC_ID))["id"] == ANTHROPIC_ID
    await api.aclose()
    assert len(sandbox.state.requests) == 2


async def test_a_key_cut_short_in_an_error_text_is_still_redacted(
    make_api: ApiFactory, sandbox: RunningSandbox
) -> None:
    # The quoted error text is cut at 200 characters; here the cut falls inside the echoed key.
    said = "x" * 180 + f" {ALICE_KEY}"
    sandbox.state.add_fault(400, body=f'{{"error": "{said}"}}'.encode())
    with pytest.raises(LookupFailed) as caught:
        await lookup(make_api(), CHAT_ID)
    assert "[redacted]" in caught.value.message
    assert ALICE_KEY[:12] not in caught.value.message, "not even the head of the key"


async def test_a_key_in_a_200_record_never_reaches_the_record(
    make_api: ApiFactory, sandbox: RunningSandbox
) -> None:
    body = f'{{"success": true, "generation": {{"id": "{CHAT_ID}", "note": "sent with {ALICE_KEY}"}}}}'
    sandbox.state.add_fault(200, body=body.encode())
    record = await lookup(make_api(), CHAT_ID)
    assert record["note"] == "sent with [redacted]"


@asynccontextmanager
async def raw_upstream(answer: bytes) -> AsyncIterator[str]:
    """A loopback HTTP server that gives every request `answer` byte for byte: what the sandbox can't."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            request = b""
            while b"\r\n\r\n" not in request:
                request += await stream.receive()
            await stream.send(answer)

    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 (anyio, not Django)
        yield f"http://127.0.0.1:{port}"
        group.cancel_scope.cancel()


NOT_FOUND_BODY = '{"error": "Generation not found"}'


def answer_404(body: bytes, content_type: str) -> bytes:
    head = f"HTTP/1.1 404 Not Found\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + body


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<!DOCTYPE html><html><body><h1>404</h1><p>Page not found</p></body></html>", "text/html"),
        (b"", "text/plain"),
        (b"404 page not found", "text/plain"),
        (b'{"detail": "Not Found"}', "application/json"),  # another framework's route
        (b'{"error": "Cannot GET /api/v1/api/v1/generations"}', "application/json"),
    ],
)
async def test_a_404_that_is_not_the_apis_not_found_points_at_the_base_url(
    make_api: ApiFactory, body: bytes, content_type: str
) -> None:
    async with raw_upstream(answer_404(body, content_type)) as base_url:
        api = make_api(base_url)
        started = time.monotonic()
        with pytest.raises(LookupFailed) as caught:
            await api.lookup(CHAT_ID, api.settings.api_key, wait_seconds=5)
    assert time.monotonic() - started < 2, "a wrong base URL is not polled for"
    failure = caught.value
    assert (failure.kind, failure.status) == ("bad_response", 404)
    assert "KUSHROUTER_BASE_URL is probably wrong" in failure.message
    assert (
        "https://api.kushrouter.com" in failure.message
        and f"{base_url}/api/v1/generations" in failure.message
    )
    assert "try again" not in failure.message and failure.waited_seconds == 0


@pytest.mark.parametrize(
    "body",
    [
        NOT_FOUND_BODY,
        '{"success": false, "error": "Generation not found"}',
        '{"error": {"message": "generation NOT FOUND", "type": "not_found"}}',
        '{"error": "Not found"}',
    ],
)
async def test_a_json_error_saying_not_found_is_the_apis_not_found(make_api: ApiFactory, body: str) -> None:
    async with raw_upstream(answer_404(body.encode(), "application/json")) as base_url:
        with pytest.raises(LookupFailed) as caught:
            await lookup(make_api(base_url), CHAT_ID)
    assert caught.value.kind == "not_found" and "try again shortly" in caught.value.message


async def test_a_base_url_ending_in_the_api_path_is_named_as_the_cause(
    make_api: ApiFactory, sandbox: RunningSandbox
) -> None:
    api = make_api(f"{sandbox.base_url}/api/v1")
    with pytest.raises(LookupFailed) as caught:
        await api.lookup(CHAT_ID, api.settings.api_key, wait_seconds=5)
    assert caught.value.kind == "bad_response"
    assert "/api/v1/api/v1/generations answered 404" in caught.value.message
    assert "KUSHROUTER_BASE_URL" in caught.value.message
    assert len(sandbox.state.requests) == 1, "asked once, not polled"


def rate_limited_answer(**headers: str) -> bytes:
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    body = b'{"error": "Rate limit exceeded (key)"}'
    head = (
        f"HTTP/1.1 429 Too Many Requests\r\n{lines}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def test_rate_limit_without_retry_after_waits_for_the_reset() -> None:
    """X-RateLimit-Reset (epoch seconds) sets the wait: 5 s, far from the 0.5 s backoff it replaces."""
    reset = int(time.time()) + 5
    sleep = RecordedSleep()
    async with raw_upstream(rate_limited_answer(**{"X-RateLimit-Reset": str(reset)})) as base_url:
        config = Settings(api_key=ApiKey(ALICE_KEY), base_url=base_url, max_retries=1)
        async with new_http_client(config) as http:
            with pytest.raises(LookupFailed) as caught:
                await lookup(GenerationsApi(config, http, sleep=sleep, jitter=lambda: 1.0), CHAT_ID)
    assert caught.value.kind == "rate_limited"
    (wait,) = sleep.waits
    assert 3.5 <= wait <= 5.5, "the window lasts until the reset, not one backoff step"


async def test_a_body_that_cannot_be_decoded_is_a_bad_response(make_api: ApiFactory) -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\nConnection: close\r\n\r\n"
        b"not gzip!"
    )
    async with raw_upstream(answer) as base_url:
        with pytest.raises(LookupFailed) as caught:
            await lookup(make_api(base_url), CHAT_ID)
    assert caught.value.kind == "bad_response"
    assert "could not be decoded" in caught.value.message


async def test_a_request_id_echoing_the_key_reaches_no_log_line(
    make_api: ApiFactory, caplog: pytest.LogCaptureFixture
) -> None:
    answer = (
        f"HTTP/1.1 404 Not Found\r\nx-request-id: {ALICE_KEY}\r\nContent-Length: {len(NOT_FOUND_BODY)}\r\n"
        f"Connection: close\r\n\r\n{NOT_FOUND_BODY}"
    ).encode()
    caplog.set_level(logging.DEBUG, logger="kushrouter_mcp")
    async with raw_upstream(answer) as base_url:
        with pytest.raises(LookupFailed) as caught:
            await lookup(make_api(base_url), CHAT_ID)
    assert caught.value.kind == "not_found"
    assert "x-request-id" in caplog.text, "the line that would carry it was logged"
    assert ALICE_KEY not in caplog.text
    assert ALICE_KEY not in caught.value.message


async def test_a_probe_cut_off_by_the_budget_hands_the_turn_on(
    make_api: ApiFactory, sandbox: RunningSandbox
) -> None:
    api = make_api(timeout_seconds=1.0, max_retries=0)
    sandbox.state.add_fault(429, times=1, retry_after="0")
    with pytest.raises(LookupFailed):
        await lookup(api, CHAT_ID)  # the key's window is closed now
    with pytest.raises(LookupFailed) as caught:
        await lookup(api, "sandbox-slow-30")  # the probe: cancelled when the budget runs out
    assert caught.value.kind == "timeout"
    # Had the cancelled probe kept its turn, this would wait on it until the budget ran out.
    assert (await lookup(api, CHAT_ID))["id"] == CHAT_ID


async def test_json_nested_too_deep_to_decode_is_a_bad_response(
    make_api: ApiFactory, sandbox: RunningSandbox
) -> None:
    sandbox.state.add_fault(200, body=b"[" * 200_000)
    with pytest.raises(LookupFailed) as caught:
        await lookup(make_api(), CHAT_ID)
    assert caught.value.kind == "bad_response" and "not JSON" in caught.value.message
