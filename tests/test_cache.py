"""The record cache: only final records, bounded, expiring, and never across API keys."""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

import kushrouter_mcp.face.app as server_module
from conftest import LEAK_CANARY, stdio_server
from kushrouter_mcp.face.app import create_server
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import (
    ALICE_KEY,
    ANTHROPIC_ID,
    BOB_KEY,
    BOB_ONLY_ID,
    CHAT_ID,
    RESPONSES_ACTION_ID,
    RESPONSES_ID,
    SEED_RECORDS,
)
from kushrouter_mcp.settings.config import ConfigError, Settings
from kushrouter_mcp.settings.keys import ApiKey, KeyIdentities
from kushrouter_mcp.upstream.cache import ExpiringLru, RecordCache, is_final
from kushrouter_mcp.upstream.client import GenerationsApi
from kushrouter_mcp.upstream.failures import LookupFailed
from priced import api_fields

pytestmark = pytest.mark.anyio

A, B = b"identity-a", b"identity-b"


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(gen_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": gen_id, **fields}


def test_final_means_no_status_or_completed() -> None:
    assert is_final(record("x"))
    assert is_final(record("x", status="completed"))
    assert not is_final(record("x", status="requires_action"))
    assert not is_final(record("x", status="in_progress"))


def test_only_final_records_are_kept() -> None:
    cache = RecordCache(10, 60)
    cache.put(A, "done", record("done", status="completed"))
    cache.put(A, "waiting", record("waiting", status="requires_action"))
    assert cache.get(A, "done") == record("done", status="completed")
    assert cache.get(A, "waiting") is None
    assert len(cache) == 1


def test_a_record_is_served_only_to_the_identity_that_fetched_it() -> None:
    cache = RecordCache(10, 60)
    cache.put(A, "gen", record("gen"))
    assert cache.get(A, "gen") is not None
    assert cache.get(B, "gen") is None


def test_least_recently_used_goes_first_when_full() -> None:
    cache = RecordCache(2, 60)
    cache.put(A, "one", record("one"))
    cache.put(A, "two", record("two"))
    assert cache.get(A, "one") is not None  # "two" is now the least recently used
    cache.put(A, "three", record("three"))
    assert len(cache) == 2
    assert cache.get(A, "two") is None
    assert cache.get(A, "one") is not None and cache.get(A, "three") is not None


def test_entries_expire_after_the_ttl() -> None:
    clock = FakeClock()
    cache = RecordCache(10, 60, clock)
    cache.put(A, "gen", record("gen"))
    clock.now = 59.9
    assert cache.get(A, "gen") is not None
    clock.now = 60.0
    assert cache.get(A, "gen") is None
    assert len(cache) == 0, "an expired entry is dropped, not kept"


def test_each_entry_keeps_its_own_ttl() -> None:
    """The key checker keeps good verdicts 10 min and bad ones 1 min in one ExpiringLru."""
    clock = FakeClock()
    verdicts: ExpiringLru[str, str] = ExpiringLru(10, clock)
    verdicts.put("good", "good", 600)
    verdicts.put("bad", "bad", 60)
    clock.now = 60.0
    assert verdicts.get("bad") is None
    assert verdicts.get("good") == "good"
    clock.now = 600.0
    assert verdicts.get("good") is None


def test_size_zero_turns_the_cache_off() -> None:
    cache = RecordCache(0, 60)
    cache.put(A, "gen", record("gen"))
    assert cache.get(A, "gen") is None and len(cache) == 0


def test_identities_are_keyed_hashes_that_never_hold_the_key() -> None:
    identities = KeyIdentities()
    canary = identities.of(ApiKey(LEAK_CANARY))
    assert canary == identities.of(ApiKey(LEAK_CANARY))
    assert canary != identities.of(ApiKey(ALICE_KEY))
    assert KeyIdentities().of(ApiKey(LEAK_CANARY)) != canary, "the secret is random per instance"


def test_cache_settings_come_from_the_environment() -> None:
    settings = Settings.from_env({"KUSHROUTER_MCP_CACHE_SIZE": "0", "KUSHROUTER_MCP_CACHE_TTL": "90"})
    assert (settings.cache_entries, settings.cache_ttl_seconds) == (0, 90.0)
    defaults = Settings.from_env({})
    assert defaults.cache_entries == 1024 and defaults.cache_ttl_seconds == 3600.0
    for name, value in [("KUSHROUTER_MCP_CACHE_TTL", "700000"), ("KUSHROUTER_MCP_CACHE_SIZE", "-1")]:
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: value})


# --- Through the API client and the MCP client, against the sandbox over TCP ---------------------


@pytest.fixture
async def api(sandbox: RunningSandbox) -> AsyncIterator[GenerationsApi]:
    lookups = GenerationsApi(Settings(base_url=sandbox.base_url))
    yield lookups
    await lookups.aclose()


async def test_a_cached_record_reaches_no_upstream(api: GenerationsApi, sandbox: RunningSandbox) -> None:
    first = await api.lookup(CHAT_ID, ApiKey(ALICE_KEY))
    second = await api.lookup(CHAT_ID, ApiKey(ALICE_KEY))
    assert not first.cached and second.cached
    assert second.record == first.record == SEED_RECORDS[CHAT_ID]
    assert sandbox.state.request_count == 1


async def test_the_cache_holds_no_key(api: GenerationsApi) -> None:
    await api.lookup(CHAT_ID, ApiKey(ALICE_KEY))
    assert len(api.cache) == 1
    held = pickle.dumps(api.cache)  # everything the cache keeps, the keys of its map included
    assert ALICE_KEY.encode() not in held and ALICE_KEY[8:20].encode() not in held


async def test_unfinished_records_errors_and_404s_are_fetched_again(
    api: GenerationsApi, sandbox: RunningSandbox
) -> None:
    alice = ApiKey(ALICE_KEY)
    for _ in range(2):
        assert (await api.lookup(RESPONSES_ACTION_ID, alice)).cached is False  # status requires_action
        with pytest.raises(LookupFailed):
            await api.lookup("chatcmpl-not-there-1", alice)
    sandbox.state.add_fault(403)
    with pytest.raises(LookupFailed):
        await api.lookup(RESPONSES_ID, alice)
    assert (await api.lookup(RESPONSES_ID, alice)).record == SEED_RECORDS[RESPONSES_ID]  # completed
    assert (await api.lookup(RESPONSES_ID, alice)).cached
    assert sandbox.state.request_count == 6


async def test_a_second_key_never_gets_the_first_keys_cached_record(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One server, two users (as HTTP per-request keys will have it): each lookup carries its own key."""
    current = {"key": ApiKey(ALICE_KEY)}
    monkeypatch.setattr(server_module, "_api_key", lambda ctx: current["key"])
    async with Client(create_server(Settings(base_url=sandbox.base_url))) as client:
        as_alice = await client.call_tool("get_generation", {"id": CHAT_ID})
        assert not as_alice.is_error and api_fields(as_alice.structured_content) == SEED_RECORDS[CHAT_ID]
        assert not (await client.call_tool("get_generation", {"id": CHAT_ID})).is_error  # now cached
        assert sandbox.state.request_count == 1
        current["key"] = ApiKey(BOB_KEY)
        as_bob = await client.call_tool("get_generation", {"id": CHAT_ID})
        batch_as_bob = await client.call_tool("get_generations", {"ids": [CHAT_ID, BOB_ONLY_ID]})
        resource_as_bob = await client.read_resource(f"kushrouter://generations/{BOB_ONLY_ID}")
    assert as_bob.is_error and "not found" in as_bob.content[0].text
    assert as_bob.structured_content is None
    results = batch_as_bob.structured_content["results"]
    assert results[0]["error"]["kind"] == "not_found" and "generation" not in results[0]
    assert api_fields(results[1]["generation"]) == SEED_RECORDS[BOB_ONLY_ID]
    assert BOB_ONLY_ID in resource_as_bob.contents[0].text
    assert [r.key_owner for r in sandbox.state.requests] == ["alice", "bob", "bob", "bob"]


async def test_a_cache_hit_reaches_no_upstream_from_any_tool_or_the_resource(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with stdio_server(sandbox, errlog) as client:
            first = await client.call_tool("get_generation", {"id": ANTHROPIC_ID})
            assert sandbox.state.request_count == 1
            again = await client.call_tool("get_generation", {"id": ANTHROPIC_ID})
            batch = await client.call_tool("get_generations", {"ids": [ANTHROPIC_ID]})
            resource = await client.read_resource(f"kushrouter://generations/{ANTHROPIC_ID}")
            assert sandbox.state.request_count == 1
    assert first.structured_content == again.structured_content
    assert api_fields(first.structured_content) == SEED_RECORDS[ANTHROPIC_ID]
    assert "cache" in text_of(again) and "cache" not in text_of(first).split("\n")[0]
    assert batch.structured_content["results"][0]["generation"] == first.structured_content
    assert ANTHROPIC_ID in resource.contents[0].text
