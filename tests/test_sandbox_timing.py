"""The sandbox's timed behaviours over real TCP: late records, 429 storms, and its request count."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, BOB_KEY, CHAT_ID

pytestmark = pytest.mark.anyio

PATH = "/api/v1/generations"
ALICE = {"Authorization": f"Bearer {ALICE_KEY}"}
BOB = {"Authorization": f"Bearer {BOB_KEY}"}


@pytest.fixture
async def client(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False: a proxy set in the environment must never see loopback test traffic.
    async with httpx.AsyncClient(base_url=sandbox.base_url, trust_env=False, timeout=10) as http:
        yield http


async def test_a_published_record_appears_only_after_its_delay(
    client: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    made = await client.post("/_sandbox/records", json={"id": "chatcmpl-late-9", "after_seconds": 0.4})
    assert made.status_code == 200
    record = made.json()["generation"]
    assert record["id"] == "chatcmpl-late-9" and record["apiKeyId"] == "ak_sandbox_alice"
    before = await client.get(PATH, params={"id": "chatcmpl-late-9"}, headers=ALICE)
    assert before.status_code == 404
    await anyio.sleep(0.5)
    after = await client.get(PATH, params={"id": "chatcmpl-late-9"}, headers=ALICE)
    assert after.status_code == 200 and after.json()["generation"] == record
    as_bob = await client.get(PATH, params={"id": "chatcmpl-late-9"}, headers=BOB)
    assert as_bob.status_code == 404, "a published record is its owner's only"


async def test_a_storm_answers_429_until_it_ends(client: httpx.AsyncClient, sandbox: RunningSandbox) -> None:
    assert (
        await client.post("/_sandbox/storm", json={"seconds": 0.5, "retry_after": "2"})
    ).status_code == 200
    started = time.monotonic()
    stormy = await client.get(PATH, params={"id": CHAT_ID}, headers=ALICE)
    assert stormy.status_code == 429 and stormy.headers["retry-after"] == "2"
    assert stormy.json() == {"error": "Rate limit exceeded (key)"}
    assert stormy.headers["x-ratelimit-remaining"] == "0", "a storm's 429 is the API's, headers and all"
    assert (await client.get(PATH, params={"id": CHAT_ID}, headers=BOB)).status_code == 429
    await anyio.sleep(max(0.0, 0.55 - (time.monotonic() - started)))
    assert (await client.get(PATH, params={"id": CHAT_ID}, headers=ALICE)).status_code == 200
    assert len(sandbox.state.storm_hits) == 2


async def test_a_storm_for_one_key_leaves_the_other_alone(
    client: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    sandbox.state.start_storm(30, owner="alice")
    assert (await client.get(PATH, params={"id": CHAT_ID}, headers=ALICE)).status_code == 429
    assert (
        await client.get(PATH, params={"id": "msg_01Hb7Tq2LwZs9NcV4mKpR8dE"}, headers=BOB)
    ).status_code == 200
    no_key = await client.get(PATH, params={"id": CHAT_ID})
    assert no_key.status_code == 401, "authentication comes before the rate limit"


async def test_the_request_count_and_reset(client: httpx.AsyncClient, sandbox: RunningSandbox) -> None:
    for _ in range(3):
        await client.get(PATH, params={"id": CHAT_ID}, headers=ALICE)
    listed = (await client.get("/_sandbox/requests")).json()
    assert listed["count"] == 3 == len(listed["requests"]) == sandbox.state.request_count
    sandbox.state.publish("chatcmpl-gone-7")
    sandbox.state.start_storm(30)
    assert (await client.post("/_sandbox/reset")).status_code == 200
    assert sandbox.state.request_count == 0
    assert (await client.get(PATH, params={"id": "chatcmpl-gone-7"}, headers=ALICE)).status_code == 404
    assert sandbox.state.storm_hits == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_sandbox/records", {"after_seconds": 1}),
        ("/_sandbox/records", {"id": "x", "after_seconds": -1}),
        ("/_sandbox/records", {"id": "x", "owner": "mallory"}),
        ("/_sandbox/records", {"id": "x", "later": 1}),
        ("/_sandbox/storm", {"retry_after": "1"}),
        ("/_sandbox/storm", {"seconds": "1"}),
        ("/_sandbox/storm", {"seconds": 1, "retry_after": "1\r\nX-Evil: 1"}),
        ("/_sandbox/storm", {"seconds": 1, "owner": "mallory"}),
    ],
)
async def test_bad_control_input_is_a_400(
    client: httpx.AsyncClient, sandbox: RunningSandbox, path: str, body: dict[str, object]
) -> None:
    answer = await client.post(path, json=body)
    assert answer.status_code == 400 and answer.json()["error"]
    assert (await client.get(PATH, params={"id": CHAT_ID}, headers=ALICE)).status_code == 200
