"""Property-based fuzzing of what callers control: the payload to extract from and the id to look up.

Any text, any JSON (deep, wide, odd), any Python value where an id belongs: the tool functions
answer with a result or a clean isError — never an exception — in bounded time. Bounded in
examples and per-example time so the suite stays quick and deterministic (derandomized).
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.types import CallToolResult

from kushrouter_mcp.face import tools
from kushrouter_mcp.records.ids import (
    InvalidGenerationId,
    check_generation_id,
    is_valid_generation_id,
    unquote,
)
from kushrouter_mcp.sandbox.samples import CHAT_ID, SAMPLE_PAYLOADS
from kushrouter_mcp.settings.keys import ApiKey
from kushrouter_mcp.upstream.client import Lookup

MAX_CHARS = 1_000_000
BOUNDED = settings(max_examples=150, deadline=2000, derandomize=True, database=None)

# Fragments real payloads are made of, so the fuzzer reaches deep into the parsers, not just the
# "no JSON here" path.
FRAGMENTS = st.sampled_from(
    [
        "data: ", "event: message_start\n", "\n\n", "\r\n", "{", "}", "[", "]", ",", ":", '"', "\\",
        '"id"', '"id":', '"object":"chat.completion.chunk"', '"type":"message_start"', '"message":',
        '"response":', '"usage":{"prompt_tokens":1}', "chatcmpl-", "resp_", "msg_", CHAT_ID,
        "[DONE]", "```json\n", "```", "null", "true", "1e999", "-0", "\x00", "\u2028", "\ud800",
    ]
)  # fmt: skip
PAYLOAD_TEXT = st.one_of(
    st.text(max_size=2000),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=20)), max_size=120).map("".join),
    st.sampled_from(sorted(SAMPLE_PAYLOADS.values())).flatmap(
        lambda payload: st.tuples(st.integers(0, len(payload)), st.integers(0, len(payload))).map(
            lambda cut: payload[min(cut) : max(cut)]
        )
    ),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40) | FRAGMENTS,
    lambda inner: (
        st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=10) | FRAGMENTS, inner, max_size=8)
    ),
    max_leaves=60,
)


def assert_clean(result: CallToolResult) -> None:
    assert result.content and result.content[0].type == "text"
    if result.is_error:
        assert result.content[0].text.strip()
        return
    found = result.structured_content
    assert found is not None
    assert all(is_valid_generation_id(generation_id) for generation_id in found["ids"])
    assert found["id"] == found["ids"][0]


@BOUNDED
@given(PAYLOAD_TEXT)
def test_extraction_from_any_text_is_a_result_or_a_clean_error(text: str) -> None:
    result = tools.extract_generation_id(text, MAX_CHARS)
    assert_clean(result)
    if not result.is_error:  # an id found in text is really in that text
        assert all(generation_id in text for generation_id in result.structured_content["ids"])


@BOUNDED
@given(JSON_VALUES)
def test_extraction_from_any_json_is_a_result_or_a_clean_error(value: Any) -> None:
    payload: Any = value if isinstance(value, dict | list) else [value]
    assert_clean(tools.extract_generation_id(payload, MAX_CHARS))
    assert_clean(tools.extract_generation_id(json.dumps(value), MAX_CHARS))  # the same as text


@settings(BOUNDED, max_examples=12, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.integers(1_000, 50_000), st.sampled_from(["list", "dict", "text"]))
def test_deep_json_does_not_exhaust_the_stack(depth: int, shape: str) -> None:
    # Generating the nesting is the slow part, not the extraction; the health check would count it.
    inner = {"id": CHAT_ID, "object": "chat.completion"}
    payload: Any = inner
    if shape == "text":  # built as text: json.dumps itself would run out of stack
        payload = '{"data": ' * depth + json.dumps(inner) + "}" * depth
    else:
        for _ in range(depth):
            payload = [payload] if shape == "list" else {"data": payload}
    assert_clean(tools.extract_generation_id(payload, MAX_CHARS))


def test_huge_payloads_are_refused_by_size_not_by_memory() -> None:
    huge_text = "data: " + "x" * (MAX_CHARS + 1)
    huge_json = {"choices": ["y" * 1000] * (MAX_CHARS // 1000 + 1)}
    for payload in (huge_text, huge_json):
        result = tools.extract_generation_id(payload, MAX_CHARS)
        assert result.is_error and "1,000,000" in result.content[0].text


OPENING_QUOTES = st.sampled_from(['"', "'", "`", "\u201c", "\u201d", ""])
CLOSING_QUOTES = st.sampled_from(['"', "'", "`", "\u201d", "\u2019", ""])
ANY_ID = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=40).map(lambda raw: raw.decode("latin-1")),  # bytes-ish strings
    st.text(alphabet=st.characters(codec="utf-8"), min_size=250, max_size=260),
    st.tuples(OPENING_QUOTES, st.text(max_size=30), CLOSING_QUOTES).map("".join),  # quoted, half, mismatched
    st.none(), st.booleans(), st.integers(), st.floats(), st.binary(max_size=10),
    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.text(max_size=5)),
)  # fmt: skip


@BOUNDED
@given(ANY_ID)
def test_id_validation_accepts_exactly_the_valid_ids(value: object) -> None:
    bare = unquote(value) if isinstance(value, str) else value
    valid = isinstance(bare, str) and is_valid_generation_id(bare)
    if valid:
        assert check_generation_id(value) == bare
    else:
        with pytest.raises(InvalidGenerationId, match=r"\S"):  # refused, with a message
            check_generation_id(value)


class RecordingApi:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def lookup(self, generation_id: str, key: ApiKey | None, wait_seconds: float = 0.0) -> Lookup:
        self.asked.append(generation_id)
        return Lookup(
            {"id": generation_id, "endpoint": "openai.chat.completions", "usage": {"total_tokens": 1}}
        )


@BOUNDED
@given(ANY_ID)
def test_lookup_of_any_id_is_a_result_or_a_clean_error_and_only_valid_ids_go_upstream(value: object) -> None:
    api = RecordingApi()
    result = anyio.run(tools.get_generation, api, value, ApiKey("kr_test_key"))
    assert result.content[0].text.strip()
    if result.is_error:
        assert result.content[0].text.startswith("Invalid generation id")
        assert api.asked == []
    else:
        assert api.asked == [check_generation_id(value)] and is_valid_generation_id(api.asked[0])
