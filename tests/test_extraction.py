"""Tests for kushrouter_mcp.extraction.extract_generations.

Written from the specification, not from the implementation: the payloads in ``payloads.py`` follow
the real wire formats of OpenAI Chat Completions (incl. Azure), OpenAI Responses and Anthropic
Messages, bodies and streams, with decoy ids (tool-call ids, output-item ids, ids inside generated
text, empty placeholders) before and after the real generation id.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

import payloads as p
from kushrouter_mcp.extraction import NoGenerationIdFound, PayloadTooLarge, extract_generations
from kushrouter_mcp.extraction.results import ExtractedUsage, ExtractionResult

CHAT = "openai.chat.completions"
RESPONSES = "openai.responses"
ANTHROPIC = "anthropic.messages"

MIB = 1024 * 1024
FAST = 5.0  # seconds; generous, only catches super-linear blow-ups


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def usage_of(obj: Any) -> dict[str, int | None] | None:
    usage = obj.usage
    if usage is None:
        return None
    assert isinstance(usage, ExtractedUsage)
    return usage.model_dump()


def assert_consistent(result: ExtractionResult) -> None:
    """Invariants of every result: id == ids[0], one generation per id, top level == generations[0]."""
    assert isinstance(result, ExtractionResult)
    assert result.ids, "a result always names at least one id"
    assert result.id == result.ids[0]
    assert len(set(result.ids)) == len(result.ids), f"ids not distinct: {result.ids}"
    assert [g.id for g in result.generations] == result.ids
    first = result.generations[0]
    for field in ("id", "endpoint", "stream", "model", "finish_reason", "status"):
        assert getattr(result, field) == getattr(first, field), field
    assert usage_of(result) == usage_of(first)
    for decoy in p.DECOY_IDS:
        assert decoy not in result.ids, f"decoy id {decoy} returned as a generation id"
    assert "" not in result.ids


def expect(
    gen_id: str,
    endpoint: str,
    stream: bool | None,
    model: str | None,
    usage: dict[str, int | None] | None,
    *,
    finish_reason: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    return {
        "id": gen_id,
        "endpoint": endpoint,
        "stream": stream,
        "model": model,
        "usage": usage,
        "finish_reason": finish_reason,
        "status": status,
    }


def assert_generation(gen: Any, exp: dict[str, Any]) -> None:
    assert gen.id == exp["id"]
    assert gen.endpoint == exp["endpoint"]
    assert gen.stream is exp["stream"]
    assert gen.model == exp["model"]
    assert gen.finish_reason == exp["finish_reason"]
    assert gen.status == exp["status"]
    assert usage_of(gen) == exp["usage"]


def pretty(obj: Any) -> str:
    return json.dumps(obj, indent=2)


# --------------------------------------------------------------------------------------------
# One generation: every family, every shape
# --------------------------------------------------------------------------------------------

CHAT_STREAM_EXP = expect(
    p.CHAT_ID, CHAT, True, p.CHAT_MODEL, p.CHAT_STREAM_EXPECTED_USAGE, finish_reason="stop"
)
CHAT_BODY_EXP = expect(
    p.CHAT_BODY_ID, CHAT, False, p.CHAT_BODY_MODEL, p.CHAT_BODY_EXPECTED_USAGE, finish_reason="stop"
)
RESP_STREAM_EXP = expect(
    p.RESP_ID, RESPONSES, True, p.RESP_MODEL, p.RESP_STREAM_EXPECTED_USAGE, status="completed"
)
RESP_BODY_EXP = expect(
    p.RESP_BODY_ID, RESPONSES, False, p.RESP_BODY_MODEL, p.RESP_BODY_EXPECTED_USAGE, status="completed"
)
ANTH_STREAM_EXP = expect(
    p.ANTH_ID, ANTHROPIC, True, p.ANTH_MODEL, p.ANTH_STREAM_EXPECTED_USAGE, finish_reason="tool_use"
)
ANTH_BODY_EXP = expect(
    p.ANTH_BODY_ID, ANTHROPIC, False, p.ANTH_BODY_MODEL, p.ANTH_BODY_EXPECTED_USAGE, finish_reason="tool_use"
)

SINGLE_CASES = [
    # --- OpenAI Chat Completions: streams -----------------------------------------------------
    pytest.param(p.CHAT_STREAM_SSE, CHAT_STREAM_EXP, id="chat-sse-include-usage-done"),
    pytest.param(p.sse(p.CHAT_STREAM_EVENTS, done=True, crlf=True), CHAT_STREAM_EXP, id="chat-sse-crlf"),
    pytest.param(
        p.sse(
            p.CHAT_STREAM_EVENTS,
            done=True,
            comments={0: ": OPENROUTER PROCESSING", 3: ":keep-alive", 7: ": ping 2025-03-10T01:02:03Z"},
        ),
        CHAT_STREAM_EXP,
        id="chat-sse-comment-and-keepalive-lines",
    ),
    pytest.param(
        p.sse(p.CHAT_STREAM_EVENTS, done=True, data_prefix="data:"),
        CHAT_STREAM_EXP,
        id="chat-sse-data-no-space",
    ),
    pytest.param(
        p.sse(p.CHAT_STREAM_EVENTS, done=True, split_data=True), CHAT_STREAM_EXP, id="chat-sse-multiline-data"
    ),
    pytest.param(p.ndjson(p.CHAT_STREAM_EVENTS), CHAT_STREAM_EXP, id="chat-ndjson"),
    pytest.param(list(p.CHAT_STREAM_EVENTS), CHAT_STREAM_EXP, id="chat-event-array-list"),
    pytest.param(pretty(p.CHAT_STREAM_EVENTS), CHAT_STREAM_EXP, id="chat-event-array-str"),
    pytest.param(
        "Here is the raw stream I captured:\n\n```text\n" + p.CHAT_STREAM_SSE + "```\n\nWhy is it so long?",
        CHAT_STREAM_EXP,
        id="chat-sse-in-markdown-fence-with-prose",
    ),
    pytest.param(
        p.CHAT_TOOL_STREAM_SSE,
        expect(p.CHAT_TOOL_ID, CHAT, True, p.CHAT_MODEL, None, finish_reason="tool_calls"),
        id="chat-sse-tool-calls-no-usage-chunk",
    ),
    pytest.param(
        p.AZURE_STREAM_SSE,
        expect(p.AZURE_ID, CHAT, True, p.AZURE_MODEL, p.AZURE_EXPECTED_USAGE, finish_reason="stop"),
        id="azure-sse-empty-id-filter-chunk-sorted-keys",
    ),
    pytest.param(
        p.CHAT_STREAM_EVENTS[1],
        expect(p.CHAT_ID, CHAT, True, p.CHAT_MODEL, None),
        id="chat-single-chunk-dict",
    ),
    # --- OpenAI Chat Completions: bodies ------------------------------------------------------
    pytest.param(p.dumps(p.CHAT_BODY), CHAT_BODY_EXP, id="chat-body-str"),
    pytest.param(pretty(p.CHAT_BODY), CHAT_BODY_EXP, id="chat-body-pretty-str"),
    pytest.param(p.CHAT_BODY, CHAT_BODY_EXP, id="chat-body-dict"),
    pytest.param("```json\n" + pretty(p.CHAT_BODY) + "\n```", CHAT_BODY_EXP, id="chat-body-markdown-fence"),
    pytest.param(
        "I called the API and got this back:\n"
        + pretty(p.CHAT_BODY)
        + "\nThe numbers look off to me - can you check what was billed?",
        CHAT_BODY_EXP,
        id="chat-body-prose-before-and-after",
    ),
    pytest.param(
        p.CHAT_TOOL_BODY,
        expect(
            p.CHAT_TOOL_ID,
            CHAT,
            False,
            p.CHAT_BODY_MODEL,
            p.CHAT_TOOL_BODY_EXPECTED_USAGE,
            finish_reason="tool_calls",
        ),
        id="chat-body-tool-calls-usage-without-total",
    ),
    # --- OpenAI Responses: streams ------------------------------------------------------------
    pytest.param(p.RESP_STREAM_SSE, RESP_STREAM_EXP, id="responses-sse-event-lines"),
    pytest.param(p.sse(p.RESP_STREAM_EVENTS), RESP_STREAM_EXP, id="responses-sse-data-only"),
    pytest.param(
        p.sse(p.RESP_STREAM_EVENTS, event_lines=True, crlf=True), RESP_STREAM_EXP, id="responses-sse-crlf"
    ),
    pytest.param(
        p.sse(p.RESP_STREAM_EVENTS, event_lines=True, split_data=True),
        RESP_STREAM_EXP,
        id="responses-sse-multiline-data",
    ),
    pytest.param(p.ndjson(p.RESP_STREAM_EVENTS), RESP_STREAM_EXP, id="responses-ndjson"),
    pytest.param(list(p.RESP_STREAM_EVENTS), RESP_STREAM_EXP, id="responses-event-array-list"),
    pytest.param(p.RESP_STREAM_EVENTS[-1], RESP_STREAM_EXP, id="responses-completed-event-dict"),
    # --- OpenAI Responses: bodies -------------------------------------------------------------
    pytest.param(p.dumps(p.RESP_BODY), RESP_BODY_EXP, id="responses-body-str"),
    pytest.param(p.RESP_BODY, RESP_BODY_EXP, id="responses-body-dict"),
    pytest.param(
        "```json\n" + pretty(p.RESP_BODY) + "\n```\n", RESP_BODY_EXP, id="responses-body-markdown-fence"
    ),
    pytest.param(
        p.RESP_INCOMPLETE_BODY,
        expect(
            p.RESP_BODY_ID,
            RESPONSES,
            False,
            p.RESP_MODEL,
            p.RESP_INCOMPLETE_EXPECTED_USAGE,
            status="incomplete",
        ),
        id="responses-body-incomplete-with-previous-response-id",
    ),
    # --- Anthropic Messages: streams ----------------------------------------------------------
    pytest.param(p.ANTH_STREAM_SSE, ANTH_STREAM_EXP, id="anthropic-sse-event-lines"),
    pytest.param(p.sse(p.ANTH_STREAM_EVENTS), ANTH_STREAM_EXP, id="anthropic-sse-data-only"),
    pytest.param(
        p.sse(p.ANTH_STREAM_EVENTS, event_lines=True, crlf=True), ANTH_STREAM_EXP, id="anthropic-sse-crlf"
    ),
    pytest.param(
        p.sse(p.ANTH_STREAM_EVENTS, event_lines=True, split_data=True),
        ANTH_STREAM_EXP,
        id="anthropic-sse-multiline-data",
    ),
    pytest.param(p.ndjson(p.ANTH_STREAM_EVENTS), ANTH_STREAM_EXP, id="anthropic-ndjson"),
    pytest.param(pretty(p.ANTH_STREAM_EVENTS), ANTH_STREAM_EXP, id="anthropic-event-array-str"),
    pytest.param(
        p.sse(p.ANTH_STREAM_FULL_DELTA_EVENTS, event_lines=True),
        ANTH_STREAM_EXP,
        id="anthropic-sse-message-delta-with-input-and-cache-counts",
    ),
    # --- Anthropic Messages: bodies -----------------------------------------------------------
    pytest.param(p.dumps(p.ANTH_BODY), ANTH_BODY_EXP, id="anthropic-body-str"),
    pytest.param(p.ANTH_BODY, ANTH_BODY_EXP, id="anthropic-body-dict"),
    pytest.param(
        json.dumps(p.ANTH_BODY, indent=2, sort_keys=True),
        ANTH_BODY_EXP,
        id="anthropic-body-sorted-keys-content-first",
    ),
    pytest.param(
        "Response from /v1/messages:\n\n" + p.dumps(p.ANTH_BODY) + "\n\nThat's all it returned.",
        ANTH_BODY_EXP,
        id="anthropic-body-prose-before-and-after",
    ),
    pytest.param(
        p.ANTH_BODY_NO_CACHE,
        expect(
            p.ANTH_OLD_ID,
            ANTHROPIC,
            False,
            "claude-3-5-haiku-20241022",
            p.ANTH_BODY_NO_CACHE_EXPECTED_USAGE,
            finish_reason="end_turn",
        ),
        id="anthropic-body-without-cache-fields",
    ),
]


@pytest.mark.parametrize(("payload", "exp"), SINGLE_CASES)
def test_single_generation(payload: Any, exp: dict[str, Any]) -> None:
    result = extract_generations(payload)
    assert_consistent(result)
    assert result.ids == [exp["id"]]
    assert_generation(result, exp)
    assert len(result.generations) == 1
    assert_generation(result.generations[0], exp)


def test_last_message_delta_output_tokens_win() -> None:
    events = copy.deepcopy(p.ANTH_STREAM_EVENTS)
    early_delta = {
        "type": "message_delta",
        "delta": {"stop_reason": None, "stop_sequence": None},
        "usage": {"output_tokens": 40},
    }
    events.insert(7, early_delta)  # before the tool_use block; the final message_delta says 89
    result = extract_generations(p.sse(events, event_lines=True))
    assert result.id == p.ANTH_ID
    assert result.usage is not None
    assert result.usage.completion_tokens == 89
    assert result.usage.prompt_tokens == 472
    assert result.usage.total_tokens == 472 + 89
    assert result.finish_reason == "tool_use"


def test_responses_status_is_the_final_one_not_created() -> None:
    # response.created / in_progress say "in_progress"; response.completed says "completed".
    result = extract_generations(p.RESP_STREAM_SSE)
    assert result.status == "completed"
    assert result.finish_reason is None


def test_input_payload_is_not_mutated() -> None:
    body = copy.deepcopy(p.RESP_BODY)
    events = copy.deepcopy(p.ANTH_STREAM_EVENTS)
    extract_generations(body)
    extract_generations(events)
    assert body == p.RESP_BODY
    assert events == p.ANTH_STREAM_EVENTS


# --------------------------------------------------------------------------------------------
# Bare ids
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "gen_id", "endpoint"),
    [
        pytest.param(p.CHAT_ID, p.CHAT_ID, CHAT, id="chat-plain"),
        pytest.param(p.CHAT_ID + "\n", p.CHAT_ID, CHAT, id="chat-trailing-newline"),
        pytest.param("'" + p.CHAT_ID + "'", p.CHAT_ID, CHAT, id="chat-single-quotes"),
        pytest.param("  " + p.RESP_ID + "  \n", p.RESP_ID, RESPONSES, id="responses-whitespace"),
        pytest.param("`" + p.RESP_ID + "`", p.RESP_ID, RESPONSES, id="responses-backticks"),
        pytest.param('"' + p.RESP_ID + '"\n', p.RESP_ID, RESPONSES, id="responses-json-string"),
        pytest.param('"' + p.ANTH_ID + '"', p.ANTH_ID, ANTHROPIC, id="anthropic-double-quotes"),
        pytest.param("\n`" + p.ANTH_ID + "`\n", p.ANTH_ID, ANTHROPIC, id="anthropic-backticks-newlines"),
        pytest.param("\t" + p.ANTH_ID + "\r\n", p.ANTH_ID, ANTHROPIC, id="anthropic-tab-crlf"),
    ],
)
def test_bare_id(text: str, gen_id: str, endpoint: str) -> None:
    result = extract_generations(text)
    assert_consistent(result)
    assert result.ids == [gen_id]
    assert result.endpoint == endpoint
    assert result.stream is None
    assert result.model is None
    assert result.usage is None
    assert result.finish_reason is None
    assert result.status is None


@pytest.mark.parametrize(
    "decoy",
    [p.CHAT_CALL_ID, p.TOOLU_ID, p.RESP_RS_ITEM_ID, p.RESP_FC_ITEM_ID, "`" + p.RESP_CALL_ID + "`"],
)
def test_bare_decoy_id_is_not_a_generation(decoy: str) -> None:
    with pytest.raises(NoGenerationIdFound):
        extract_generations(decoy)


# --------------------------------------------------------------------------------------------
# Payloads whose only ids are decoys
# --------------------------------------------------------------------------------------------

_ANTH_FROM_MIDDLE = p.sse(p.ANTH_STREAM_EVENTS[1:], event_lines=True)
_RESP_ITEM_EVENTS_ONLY = p.sse(p.RESP_STREAM_EVENTS[2:-1], event_lines=True)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(p.sse([p.AZURE_FILTER_CHUNK]), id="azure-filter-chunk-empty-id-sse"),
        pytest.param(p.AZURE_FILTER_CHUNK, id="azure-filter-chunk-empty-id-dict"),
        pytest.param(p.RESP_MESSAGE_ITEM_ALONE, id="responses-message-output-item-dict"),
        pytest.param(p.dumps(p.RESP_MESSAGE_ITEM_ALONE), id="responses-message-output-item-str"),
        pytest.param(_RESP_ITEM_EVENTS_ONLY, id="responses-output-item-events-without-lifecycle"),
        pytest.param(_ANTH_FROM_MIDDLE, id="anthropic-stream-without-message-start"),
        pytest.param(p.CHAT_REQUEST_WITH_TOOL_HISTORY, id="chat-request-with-tool-history"),
        pytest.param(p.ANTHROPIC_REQUEST_WITH_TOOL_HISTORY, id="anthropic-request-with-tool-history"),
        pytest.param(p.dumps({"note": p.FAKE_BODY_SNIPPET}), id="fake-body-inside-json-string"),
        pytest.param(
            p.sse([p.ANTH_STREAM_EVENTS[7], p.ANTH_STREAM_EVENTS[9]], event_lines=True),
            id="anthropic-tool-use-block-only",
        ),
    ],
)
def test_only_decoys_means_no_generation(payload: Any) -> None:
    with pytest.raises(NoGenerationIdFound):
        extract_generations(payload)


def test_responses_output_items_do_not_make_it_anthropic() -> None:
    # The first msg_ in the text is a Responses output item; the generation is the resp_ id.
    text = _RESP_ITEM_EVENTS_ONLY + p.sse([p.RESP_STREAM_EVENTS[-1]], event_lines=True)
    result = extract_generations(text)
    assert_consistent(result)
    assert result.ids == [p.RESP_ID]
    assert result.endpoint == RESPONSES


# --------------------------------------------------------------------------------------------
# Streams captured from the middle, and truncated streams
# --------------------------------------------------------------------------------------------


def _cut_after(text: str, needle: str, occurrence: int = 1, offset: int = 0) -> str:
    """Drop everything before the `occurrence`-th `needle` (plus `offset` characters)."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    return text[index + offset :]


def test_chat_stream_captured_mid_id() -> None:
    # The capture starts inside the second chunk's id: "cmpl-B9MH…" must not come out.
    text = _cut_after(p.CHAT_STREAM_SSE, p.CHAT_ID, occurrence=2, offset=4)
    assert text.startswith(p.CHAT_ID[4:])
    result = extract_generations(text)
    assert_consistent(result)
    assert result.ids == [p.CHAT_ID]
    assert result.endpoint == CHAT
    assert result.stream is True
    assert usage_of(result) == p.CHAT_STREAM_EXPECTED_USAGE
    assert result.finish_reason == "stop"


def test_chat_stream_captured_mid_string_starting_with_fake_id() -> None:
    # The first line starts inside generated text, right at the decoy id of the fake body.
    escaped = '\\"' + p.FAKE_CHAT_ID
    text = _cut_after(p.CHAT_STREAM_SSE, escaped, offset=2)
    assert text.startswith(p.FAKE_CHAT_ID)
    result = extract_generations(text)
    assert_consistent(result)
    assert result.ids == [p.CHAT_ID]
    assert result.endpoint == CHAT


def test_responses_stream_captured_from_the_middle() -> None:
    text = _cut_after(p.RESP_STREAM_SSE, '"type":"response.output_text.delta"', occurrence=2, offset=9)
    assert "response.created" not in text
    result = extract_generations(text)
    assert_consistent(result)
    assert result.ids == [p.RESP_ID]
    assert result.endpoint == RESPONSES
    assert result.stream is True
    assert result.status == "completed"
    assert usage_of(result) == p.RESP_STREAM_EXPECTED_USAGE


def test_chat_stream_truncated_in_usage_chunk() -> None:
    text = p.sse(p.CHAT_STREAM_EVENTS)
    last = "data: " + p.dumps(p.CHAT_STREAM_EVENTS[-1])
    start = text.rindex(last)
    cut = text[: start + 60]  # the usage chunk ends inside its "object" value
    assert '"usage"' not in cut[start:]
    assert "prompt_tokens" not in cut
    result = extract_generations(cut)
    assert_consistent(result)
    assert result.ids == [p.CHAT_ID]
    assert result.finish_reason == "stop"
    assert result.usage is None, "the usage chunk was cut off before its usage: nothing to report"


def test_truncated_second_stream_with_cut_id_is_ignored() -> None:
    text = p.CHAT_STREAM_SSE + 'data: {"id":"' + p.CHAT_ID_2[:15]
    result = extract_generations(text)
    assert_consistent(result)
    assert result.ids == [p.CHAT_ID]
    assert all(not p.CHAT_ID_2.startswith(i) for i in result.ids)


def test_anthropic_stream_truncated_mid_content() -> None:
    text = p.sse(p.ANTH_STREAM_EVENTS[:5], event_lines=True)
    text += (
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_del'
    )
    result = extract_generations(text)
    assert_consistent(result)
    assert result.ids == [p.ANTH_ID]
    assert result.endpoint == ANTHROPIC
    assert result.stream is True
    assert result.model == p.ANTH_MODEL
    assert result.finish_reason is None, "no message_delta arrived, so no stop_reason"
    assert result.usage is not None
    assert result.usage.prompt_tokens == 472
    assert result.usage.cache_read_input_tokens == 2048


def test_responses_stream_truncated_inside_completed_event() -> None:
    marker = '"type":"response.completed"'
    start = p.RESP_STREAM_SSE.index(marker)
    cut = p.RESP_STREAM_SSE[: p.RESP_STREAM_SSE.index('"output":[', start) + len('"output":[')]
    result = extract_generations(cut)
    assert_consistent(result)
    assert result.ids == [p.RESP_ID]
    assert result.endpoint == RESPONSES
    assert result.usage is None


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('data: {"id":"' + p.CHAT_ID[:20], id="chat-id-cut"),
        pytest.param('data: {"id":"' + p.CHAT_ID, id="chat-id-cut-before-closing-quote"),
        pytest.param(
            'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":"'
            + p.RESP_ID[:20],
            id="responses-id-cut",
        ),
        pytest.param(
            'event: message_start\ndata: {"type":"message_start","message":{"id":"' + p.ANTH_ID[:12],
            id="anthropic-id-cut",
        ),
    ],
)
def test_cut_off_id_is_never_returned(text: str) -> None:
    with pytest.raises(NoGenerationIdFound):
        extract_generations(text)


# --------------------------------------------------------------------------------------------
# Several generations
# --------------------------------------------------------------------------------------------

_THREE_BODIES = [p.CHAT_BODY, p.RESP_BODY, p.ANTH_BODY]
_THREE_BODIES_EXP = [CHAT_BODY_EXP, RESP_BODY_EXP, ANTH_BODY_EXP]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(p.ndjson(_THREE_BODIES), id="ndjson-log"),
        pytest.param(list(_THREE_BODIES), id="array-list"),
        pytest.param(pretty(_THREE_BODIES), id="array-str"),
    ],
)
def test_three_bodies_of_mixed_families(payload: Any) -> None:
    result = extract_generations(payload)
    assert_consistent(result)
    assert result.ids == [p.CHAT_BODY_ID, p.RESP_BODY_ID, p.ANTH_BODY_ID]
    for gen, exp in zip(result.generations, _THREE_BODIES_EXP, strict=True):
        assert_generation(gen, exp)


_SECOND_USAGE = {
    "prompt_tokens": 40,
    "completion_tokens": 7,
    "total_tokens": 47,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
}
_SECOND_EXP = expect(
    p.CHAT_ID_2,
    CHAT,
    True,
    p.CHAT_MODEL,
    {
        "prompt_tokens": 40,
        "completion_tokens": 7,
        "total_tokens": 47,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": None,
    },
    finish_reason="stop",
)


def test_two_chat_streams_back_to_back() -> None:
    text = p.CHAT_STREAM_SSE + p.sse(p.chat_stream_events(p.CHAT_ID_2, usage=_SECOND_USAGE), done=True)
    result = extract_generations(text)
    assert_consistent(result)
    assert result.ids == [p.CHAT_ID, p.CHAT_ID_2]
    assert_generation(result.generations[0], CHAT_STREAM_EXP)
    assert_generation(result.generations[1], _SECOND_EXP)


def test_two_interleaved_chat_streams() -> None:
    # Two concurrent requests logged chunk by chunk into one file.
    first = p.chat_stream_events(p.CHAT_ID)
    second = p.chat_stream_events(p.CHAT_ID_2, usage=_SECOND_USAGE)
    interleaved = [event for pair in zip(first, second, strict=True) for event in pair]
    result = extract_generations(p.ndjson(interleaved))
    assert_consistent(result)
    assert result.ids == [p.CHAT_ID, p.CHAT_ID_2]
    assert_generation(result.generations[0], CHAT_STREAM_EXP)
    assert_generation(result.generations[1], _SECOND_EXP)


def test_anthropic_stream_then_responses_stream() -> None:
    result = extract_generations(p.ANTH_STREAM_SSE + p.RESP_STREAM_SSE)
    assert_consistent(result)
    assert result.ids == [p.ANTH_ID, p.RESP_ID]
    assert_generation(result.generations[0], ANTH_STREAM_EXP)
    assert_generation(result.generations[1], RESP_STREAM_EXP)


def test_log_with_decoy_records_between_generations() -> None:
    log = [
        p.RESP_MESSAGE_ITEM_ALONE,
        p.CHAT_REQUEST_WITH_TOOL_HISTORY,
        p.CHAT_BODY,
        p.AZURE_FILTER_CHUNK,
        p.ANTHROPIC_REQUEST_WITH_TOOL_HISTORY,
        p.ANTH_BODY,
        p.RESP_MESSAGE_ITEM_ALONE,
    ]
    result = extract_generations(p.ndjson(log))
    assert_consistent(result)
    assert result.ids == [p.CHAT_BODY_ID, p.ANTH_BODY_ID]
    assert_generation(result.generations[0], CHAT_BODY_EXP)
    assert_generation(result.generations[1], ANTH_BODY_EXP)


def test_repeated_generation_is_listed_once() -> None:
    result = extract_generations([p.ANTH_BODY, p.CHAT_BODY, p.ANTH_BODY])
    assert_consistent(result)
    assert result.ids == [p.ANTH_BODY_ID, p.CHAT_BODY_ID]
    assert_generation(result.generations[0], ANTH_BODY_EXP)


# --------------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------------


def test_exceptions_are_value_errors() -> None:
    assert issubclass(NoGenerationIdFound, ValueError)
    assert issubclass(PayloadTooLarge, ValueError)


def test_str_over_max_chars_is_too_large_even_with_an_id() -> None:
    with pytest.raises(PayloadTooLarge):
        extract_generations(p.CHAT_STREAM_SSE, max_chars=len(p.CHAT_STREAM_SSE) - 1)
    with pytest.raises(PayloadTooLarge):
        extract_generations("x" * 1001, max_chars=1000)


def test_str_at_max_chars_is_accepted() -> None:
    result = extract_generations(p.CHAT_STREAM_SSE, max_chars=len(p.CHAT_STREAM_SSE))
    assert result.id == p.CHAT_ID


@pytest.mark.parametrize(
    "payload",
    [pytest.param(p.CHAT_BODY, id="dict"), pytest.param(list(p.RESP_STREAM_EVENTS), id="list")],
)
def test_dict_and_list_size_is_compact_json(payload: Any) -> None:
    size = len(json.dumps(payload, separators=(",", ":")))
    assert len(json.dumps(payload)) > size  # the default separators would overcount
    result = extract_generations(payload, max_chars=size)
    assert result.ids
    with pytest.raises(PayloadTooLarge):
        extract_generations(payload, max_chars=size - 1)


def _big_chat_stream(target_chars: int) -> str:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        return "data: " + p.dumps(
            {
                "id": p.CHAT_ID,
                "object": "chat.completion.chunk",
                "created": 1741569952,
                "model": p.CHAT_MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
        )

    head = chunk({"role": "assistant", "content": ""})
    tail = [
        chunk({}, "length"),
        "data: " + p.dumps(p.chat_usage_chunk(p.CHAT_ID, p.CHAT_STREAM_USAGE)),
        "data: [DONE]",
    ]
    body_chunk = chunk({"content": " token"})
    room = target_chars - sum(len(x) + 2 for x in [head, *tail])
    lines = [head] + [body_chunk] * (room // (len(body_chunk) + 2)) + tail
    return "\n\n".join(lines) + "\n\n"


def test_eight_mib_stream_with_default_limit() -> None:
    text = _big_chat_stream(8_000_000)
    assert 7.5 * MIB < len(text) <= 8_000_000
    assert text.count("chat.completion.chunk") > 35_000
    start = time.perf_counter()
    result = extract_generations(text)
    elapsed = time.perf_counter() - start
    assert result.ids == [p.CHAT_ID]
    assert result.endpoint == CHAT
    assert result.stream is True
    assert result.finish_reason == "length"
    assert usage_of(result) == p.CHAT_STREAM_EXPECTED_USAGE
    assert elapsed < FAST, f"8 MiB stream took {elapsed:.1f}s"


_ADVERSARIAL = [
    pytest.param('{"a":[' * (MIB // 6), id="1MiB-open-object-array"),
    pytest.param("{" * MIB, id="1MiB-line-of-braces"),
    pytest.param("[" * 100_000 + "]" * 100_000, id="nested-arrays-100k-deep-balanced"),
    pytest.param("[" * 100_000, id="nested-arrays-100k-deep-unclosed"),
    pytest.param("data: " + '{"a":[' * (MIB // 6), id="1MiB-sse-data-line"),
    pytest.param('data: {"a":[\n\n' * (MIB // 14), id="many-unterminated-sse-events"),
    pytest.param('"' * MIB, id="1MiB-of-quotes"),
    pytest.param('{"id":"' * (MIB // 7), id="1MiB-of-open-id-keys"),
    pytest.param("```json\n" + '{"a":[' * (MIB // 6), id="fenced-open-object-array"),
]


@pytest.mark.parametrize("text", _ADVERSARIAL)
def test_adversarial_input_fails_fast(text: str) -> None:
    start = time.perf_counter()
    with pytest.raises(NoGenerationIdFound):
        extract_generations(text)
    elapsed = time.perf_counter() - start
    assert elapsed < FAST, f"took {elapsed:.1f}s"


def test_deeply_nested_body_returns_or_raises_no_generation() -> None:
    text = "[" * 100_000 + p.dumps(p.CHAT_BODY) + "]" * 100_000
    start = time.perf_counter()
    try:
        result = extract_generations(text)
    except NoGenerationIdFound:
        pass
    else:
        assert result.ids == [p.CHAT_BODY_ID]
    assert time.perf_counter() - start < FAST


@pytest.mark.parametrize(
    "junk",
    [pytest.param('{"a":[' * (MIB // 6), id="open-arrays"), pytest.param("{" * MIB, id="braces")],
)
def test_junk_first_line_then_real_stream(junk: str) -> None:
    start = time.perf_counter()
    result = extract_generations(junk + "\n\n" + p.CHAT_STREAM_SSE)
    assert time.perf_counter() - start < FAST
    assert result.ids == [p.CHAT_ID]
    assert usage_of(result) == p.CHAT_STREAM_EXPECTED_USAGE


def test_real_stream_then_junk() -> None:
    start = time.perf_counter()
    result = extract_generations(p.CHAT_STREAM_SSE + '{"a":[' * (MIB // 6))
    assert time.perf_counter() - start < FAST
    assert result.ids == [p.CHAT_ID]


# --------------------------------------------------------------------------------------------
# Not a payload at all
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="spaces"),
        pytest.param("\n\r\n\t ", id="whitespace-mix"),
        pytest.param("null", id="null"),
        pytest.param("42", id="number"),
        pytest.param("-1.5e3", id="float"),
        pytest.param("true", id="true"),
        pytest.param('"hello"', id="json-string"),
        pytest.param("[]", id="empty-array-str"),
        pytest.param("{}", id="empty-object-str"),
        pytest.param("[1, 2, 3]", id="number-array"),
        pytest.param('{"id": "abc123", "object": "thing"}', id="foreign-id"),
        pytest.param('{"object": "chat.completion", "choices": []}', id="chat-body-without-id"),
        pytest.param(
            "The model answered politely, but the token count seemed high. Could you look into it?",
            id="prose",
        ),
        pytest.param("Generation ids start with chatcmpl-, resp_ or msg_.", id="prose-naming-prefixes"),
        pytest.param("data: [DONE]\n\n", id="sse-done-only"),
        pytest.param(": keep-alive\n\n: keep-alive\n\n", id="sse-comments-only"),
        pytest.param('event: ping\ndata: {"type": "ping"}\n\n', id="sse-ping-only"),
        pytest.param("\x00\x01\x02\ufffd\x7f", id="control-characters"),
        pytest.param("```json\n```", id="empty-fence"),
        pytest.param({}, id="empty-dict"),
        pytest.param([], id="empty-list"),
        pytest.param([1, "a", None, {}], id="mixed-list"),
        pytest.param({"choices": [], "usage": None}, id="dict-without-id"),
    ],
)
def test_not_a_payload(payload: Any) -> None:
    with pytest.raises(NoGenerationIdFound):
        extract_generations(payload)


def test_no_generation_message_says_what_was_looked_for() -> None:
    with pytest.raises(NoGenerationIdFound) as info:
        extract_generations("nothing to see here")
    message = str(info.value)
    for prefix in ("chatcmpl-", "resp_", "msg_"):
        assert prefix in message, f"{prefix!r} missing from: {message}"


# --------------------------------------------------------------------------------------------
# Additions: more multi-generation and truncation cases
# --------------------------------------------------------------------------------------------


def test_two_anthropic_streams_back_to_back_keep_their_own_usage() -> None:
    # message_delta carries no id: it belongs to the message opened by the latest message_start.
    second = copy.deepcopy(p.ANTH_STREAM_EVENTS)
    second[0]["message"]["id"] = p.ANTH_BODY_ID
    second[0]["message"]["usage"] = {"input_tokens": 12, "output_tokens": 1}
    second[-2] = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 30},
    }
    result = extract_generations(p.ANTH_STREAM_SSE + p.sse(second, event_lines=True))
    assert_consistent(result)
    assert result.ids == [p.ANTH_ID, p.ANTH_BODY_ID]
    assert_generation(result.generations[0], ANTH_STREAM_EXP)
    assert_generation(
        result.generations[1],
        expect(
            p.ANTH_BODY_ID,
            ANTHROPIC,
            True,
            p.ANTH_MODEL,
            {
                "prompt_tokens": 12,
                "completion_tokens": 30,
                "total_tokens": 42,
                "cache_read_input_tokens": None,
                "cache_creation_input_tokens": None,
            },
            finish_reason="end_turn",
        ),
    )


def test_responses_stream_ending_incomplete() -> None:
    events = copy.deepcopy(p.RESP_STREAM_EVENTS)
    events[-1]["type"] = "response.incomplete"
    events[-1]["response"]["status"] = "incomplete"
    events[-1]["response"]["incomplete_details"] = {"reason": "max_output_tokens"}
    result = extract_generations(p.sse(events, event_lines=True))
    assert result.ids == [p.RESP_ID]
    assert result.status == "incomplete"
    assert usage_of(result) == p.RESP_STREAM_EXPECTED_USAGE


def test_usage_number_cut_at_the_end_is_not_reported() -> None:
    # The capture ends in the middle of "completion_tokens":57 -> "5" must not be reported.
    text = p.sse(p.CHAT_STREAM_EVENTS)
    cut = text[: text.rindex('"completion_tokens":57') + len('"completion_tokens":5')]
    result = extract_generations(cut)
    assert result.ids == [p.CHAT_ID]
    if result.usage is not None:
        assert result.usage.completion_tokens is None
        assert result.usage.total_tokens is None


def test_structured_log_records_wrapping_request_and_response() -> None:
    # Beyond the letter of the spec: a proxy log whose records wrap request and response objects.
    records = [
        {"ts": "2025-03-10T01:02:03Z", "request": p.CHAT_REQUEST_WITH_TOOL_HISTORY, "response": p.CHAT_BODY},
        {
            "ts": "2025-03-10T01:02:09Z",
            "request": p.ANTHROPIC_REQUEST_WITH_TOOL_HISTORY,
            "response": p.ANTH_BODY,
        },
    ]
    result = extract_generations(p.ndjson(records))
    assert_consistent(result)
    assert result.ids == [p.CHAT_BODY_ID, p.ANTH_BODY_ID]
    assert_generation(result.generations[0], CHAT_BODY_EXP)
    assert_generation(result.generations[1], ANTH_BODY_EXP)


def test_empty_id_placeholder_chunk_with_chunk_object_is_skipped() -> None:
    # Some OpenAI-compatible backends open the stream with a typed chunk whose id is still "".
    placeholder = p.chat_chunk("", {"role": "assistant", "content": ""})
    events = [placeholder, *p.CHAT_STREAM_EVENTS, p.chat_chunk("", {}, "stop")]
    result = extract_generations(p.sse(events, done=True))
    assert_consistent(result)
    assert result.ids == [p.CHAT_ID]
    assert_generation(result, CHAT_STREAM_EXP)


def test_structured_payload_too_deep_to_serialise_is_sized_and_walked() -> None:
    deep: Any = {"id": "chatcmpl-deep-1", "object": "chat.completion", "choices": []}
    for _ in range(5000):  # deeper than json.dumps can go
        deep = {"wrapper": [deep]}
    result = extract_generations(deep)
    assert result.ids == ["chatcmpl-deep-1"]
    with pytest.raises(PayloadTooLarge):
        extract_generations(deep, max_chars=1000)
