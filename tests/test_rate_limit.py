"""The per-key rate-limit gate: with a fake clock (windows, one probe at a time, deadlines, keys apart),
then through the API client against the sandbox."""

from __future__ import annotations

import time

import anyio
import anyio.lowlevel
import pytest

from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import (
    ALICE_KEY,
    ANTHROPIC_ID,
    BOB_KEY,
    BOB_ONLY_ID,
    CHAT_ID,
    SEED_RECORDS,
)
from kushrouter_mcp.settings.config import Settings
from kushrouter_mcp.settings.keys import ApiKey
from kushrouter_mcp.upstream.client import GenerationsApi
from kushrouter_mcp.upstream.failures import LookupFailed
from kushrouter_mcp.upstream.rate_limit import (
    FORGET_AFTER_SECONDS,
    MAX_WINDOW_SECONDS,
    GateClosed,
    RateLimitGate,
    Window,
)

pytestmark = pytest.mark.anyio

ALICE, BOB, CAROL = b"alice-identity", b"bob-identity", b"carol-identity"


class FakeTime:
    """A clock that moves only when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def gate(fake: FakeTime) -> RateLimitGate:
    return RateLimitGate(fake.sleep, fake.clock)


async def test_an_unlimited_key_goes_at_once(gate: RateLimitGate, fake: FakeTime) -> None:
    assert not gate.is_limited(ALICE)
    assert await gate.wait_turn(ALICE, fake.now + 10) is None
    assert fake.sleeps == []


async def test_after_a_429_the_key_waits_the_window_out_then_probes(
    gate: RateLimitGate, fake: FakeTime
) -> None:
    gate.close(ALICE, 2.0)
    probe = await gate.wait_turn(ALICE, fake.now + 10)
    assert isinstance(probe, Window)
    assert fake.sleeps == [2.0]
    gate.release(ALICE, probe, lifted=True)
    assert not gate.is_limited(ALICE)
    assert await gate.wait_turn(ALICE, fake.now + 10) is None


async def test_only_one_request_probes_and_the_rest_follow_when_it_got_through(
    gate: RateLimitGate, fake: FakeTime
) -> None:
    gate.close(ALICE, 1.0)
    turns: list[Window | None] = []

    async def lookup() -> None:
        turns.append(await gate.wait_turn(ALICE, fake.now + 30))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(lookup)
        while not turns:
            await anyio.lowlevel.checkpoint()
        await anyio.sleep(0.01)  # the others had every chance to get through: they must still wait
        assert len(turns) == 1 and isinstance(turns[0], Window)
        gate.release(ALICE, turns[0], lifted=True)
    assert turns[1:] == [None] * 4


async def test_a_probe_that_meets_another_429_closes_a_new_window_for_everyone(
    gate: RateLimitGate, fake: FakeTime
) -> None:
    gate.close(ALICE, 1.0)
    first = await gate.wait_turn(ALICE, fake.now + 30)
    waiting: list[Window | None] = []

    async def follower() -> None:
        waiting.append(await gate.wait_turn(ALICE, fake.now + 30))

    async with anyio.create_task_group() as group:
        group.start_soon(follower)
        await anyio.sleep(0.01)
        gate.close(ALICE, 3.0)  # the probe's answer was 429 again
        gate.release(ALICE, first, lifted=False)
        await anyio.sleep(0.01)
        assert len(waiting) == 1 and isinstance(waiting[0], Window), "after the new window, one probes"
        assert fake.sleeps == [1.0, 3.0]
        gate.release(ALICE, waiting[0], lifted=True)
    assert not gate.is_limited(ALICE)


async def test_a_probe_that_got_no_answer_hands_the_turn_to_the_next(
    gate: RateLimitGate, fake: FakeTime
) -> None:
    gate.close(ALICE, 1.0)
    first = await gate.wait_turn(ALICE, fake.now + 30)
    gate.release(ALICE, first, lifted=False)  # e.g. a timeout: the limit may still hold
    assert gate.is_limited(ALICE)
    second = await gate.wait_turn(ALICE, fake.now + 30)
    assert isinstance(second, Window)


async def test_a_window_past_the_deadline_is_refused_without_waiting(
    gate: RateLimitGate, fake: FakeTime
) -> None:
    gate.close(ALICE, 45.0)
    with pytest.raises(GateClosed) as closed:
        await gate.wait_turn(ALICE, fake.now + 20)
    assert closed.value.wait_seconds == pytest.approx(45.0)
    assert fake.sleeps == []


async def test_waiting_on_a_probe_is_bounded_by_the_deadline() -> None:
    real = RateLimitGate()  # real clock and sleep: the probe never comes back
    real.close(ALICE, 0.0)
    assert await real.wait_turn(ALICE, time.monotonic() + 5) is not None
    started = time.monotonic()
    with pytest.raises(GateClosed) as closed:
        await real.wait_turn(ALICE, time.monotonic() + 0.2)
    assert closed.value.wait_seconds == 0.0
    assert time.monotonic() - started < 3


async def test_keys_are_limited_apart(gate: RateLimitGate, fake: FakeTime) -> None:
    gate.close(ALICE, 30.0)
    assert await gate.wait_turn(BOB, fake.now + 1) is None
    assert not gate.is_limited(BOB) and gate.is_limited(ALICE)


async def test_a_shorter_429_does_not_shorten_the_window(gate: RateLimitGate, fake: FakeTime) -> None:
    gate.close(ALICE, 5.0)
    gate.close(ALICE, 1.0)
    await gate.wait_turn(ALICE, fake.now + 30)
    assert fake.sleeps == [5.0]


async def test_a_window_nobody_came_back_for_is_forgotten(gate: RateLimitGate, fake: FakeTime) -> None:
    gate.close(ALICE, 1.0)  # Alice gave up and never looked anything up again
    gate.close(BOB, 1.0)
    probing = await gate.wait_turn(BOB, fake.now + 30)  # Bob's probe hangs on
    fake.now += 1.0 + FORGET_AFTER_SECONDS + 1
    gate.close(CAROL, 1.0)  # the next 429, with any key, sweeps
    assert not gate.is_limited(ALICE), "a lapsed window is not kept forever"
    assert gate.is_limited(BOB), "a window whose probe is still out is kept"
    gate.release(BOB, probing, lifted=True)
    assert not gate.is_limited(BOB)


async def test_a_recent_window_is_kept_for_its_probe(gate: RateLimitGate, fake: FakeTime) -> None:
    gate.close(ALICE, 1.0)
    fake.now += 1.0 + FORGET_AFTER_SECONDS - 1
    gate.close(BOB, 1.0)
    assert gate.is_limited(ALICE)
    assert isinstance(await gate.wait_turn(ALICE, fake.now + 30), Window), "the first one after it probes"


# --- The rate-limit gate through the API client ----------------------------------------------------


async def test_one_keys_rate_limit_does_not_slow_another(sandbox: RunningSandbox) -> None:
    api = GenerationsApi(Settings(base_url=sandbox.base_url, timeout_seconds=5, cache_entries=0))
    try:
        sandbox.state.add_fault(429, retry_after="30")
        with pytest.raises(LookupFailed) as first:
            await api.lookup(CHAT_ID, ApiKey(ALICE_KEY))
        assert first.value.kind == "rate_limited"
        started = time.monotonic()
        assert (await api.lookup(BOB_ONLY_ID, ApiKey(BOB_KEY))).record == SEED_RECORDS[BOB_ONLY_ID]
        with pytest.raises(LookupFailed) as held:
            await api.lookup(ANTHROPIC_ID, ApiKey(ALICE_KEY))
        assert time.monotonic() - started < 2, "bob went at once; alice's second lookup was refused at once"
    finally:
        await api.aclose()
    assert held.value.kind == "rate_limited" and "Not sent" in held.value.message
    assert "KUSHROUTER_TIMEOUT" in held.value.message
    assert [r.key_owner for r in sandbox.state.requests] == ["alice", "bob"], "alice's held lookup never went"


async def test_the_next_lookup_with_the_key_waits_out_the_window(sandbox: RunningSandbox) -> None:
    """A 429 met by one lookup holds the next lookup with that key until Retry-After has passed."""
    api = GenerationsApi(Settings(base_url=sandbox.base_url, cache_entries=0))
    try:
        sandbox.state.add_fault(429, retry_after="1")
        started = time.monotonic()
        assert (await api.lookup(CHAT_ID, ApiKey(ALICE_KEY))).record["id"] == CHAT_ID
        assert (await api.lookup(ANTHROPIC_ID, ApiKey(ALICE_KEY))).record["id"] == ANTHROPIC_ID
        assert 0.9 <= time.monotonic() - started < 5
    finally:
        await api.aclose()
    assert sandbox.state.request_count == 3


class SteppedClock:
    """A monotonic clock the test moves forward by hand (the HTTP calls still take real time)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


FAR_FUTURE_DATE = "Fri, 31 Dec 9999 23:59:59 GMT"


@pytest.mark.parametrize("retry_after", ["999999999", "1e999", "inf", "Infinity", FAR_FUTURE_DATE])
async def test_an_absurd_retry_after_holds_the_key_no_longer_than_the_cap(
    sandbox: RunningSandbox, retry_after: str
) -> None:
    clock = SteppedClock()
    settings = Settings(base_url=sandbox.base_url, cache_entries=0, timeout_seconds=5)
    api = GenerationsApi(settings, clock=clock)
    try:
        sandbox.state.add_fault(429, retry_after=retry_after)
        with pytest.raises(LookupFailed) as first:
            await api.lookup(CHAT_ID, ApiKey(ALICE_KEY))
        assert "at least 60 s" in first.value.message
        clock.offset += MAX_WINDOW_SECONDS - 10
        with pytest.raises(LookupFailed) as held:
            await api.lookup(CHAT_ID, ApiKey(ALICE_KEY))
        assert held.value.retry_after is not None
        assert 8 < held.value.retry_after <= 10, "the window is the cap, not what was asked"
        clock.offset += 11
        assert (await api.lookup(CHAT_ID, ApiKey(ALICE_KEY))).record == SEED_RECORDS[CHAT_ID]
    finally:
        await api.aclose()
    assert MAX_WINDOW_SECONDS == 60.0


@pytest.mark.parametrize("retry_after", ["nan", "-5", "soon", "Fri, 31 Dec 99999 23:59:59 GMT"])
async def test_an_unreadable_or_negative_retry_after_is_not_a_window(
    sandbox: RunningSandbox, retry_after: str
) -> None:
    api = GenerationsApi(Settings(base_url=sandbox.base_url, cache_entries=0))
    try:
        sandbox.state.add_fault(429, retry_after=retry_after)
        started = time.monotonic()
        assert (await api.lookup(CHAT_ID, ApiKey(ALICE_KEY))).record == SEED_RECORDS[CHAT_ID]
        assert time.monotonic() - started < 3, "retried after the reset or a backoff step"
    finally:
        await api.aclose()
