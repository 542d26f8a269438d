"""Realistic payload fixtures for the generation-id extraction tests.

The shapes follow what the providers actually send:

* OpenAI Chat Completions: ``chat.completion`` bodies and ``chat.completion.chunk`` streams
  (``data:`` lines only, ``data: [DONE]`` at the end, with ``stream_options.include_usage`` a final
  chunk whose ``choices`` is ``[]`` and whose ``usage`` is set, every earlier chunk ``"usage": null``;
  tool calls as ``delta.tool_calls`` with ``call_…`` ids and argument fragments).
* Azure OpenAI: a first chunk with ``"id": ""``, ``"choices": []`` and ``prompt_filter_results``,
  and keys serialised in alphabetical order (so ``choices`` comes before ``id`` in every chunk).
* OpenAI Responses: ``object: "response"`` bodies whose ``output`` holds ``rs_…`` reasoning,
  ``fc_…`` function-call (``call_id`` ``call_…``) and ``msg_…`` message items; streams of
  ``event: response.*`` events each carrying ``sequence_number``.
* Anthropic Messages: ``type: "message"`` bodies, and streams of ``message_start`` /
  ``content_block_start`` / ``ping`` / ``content_block_delta`` (``text_delta``, ``input_json_delta``) /
  ``content_block_stop`` / ``message_delta`` (cumulative ``usage.output_tokens``) / ``message_stop``.

Every payload also carries decoys: tool-call ids, output-item ids and ids that only occur inside
generated text. None of those is a generation id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

# --------------------------------------------------------------------------------------------
# Ids
# --------------------------------------------------------------------------------------------

CHAT_ID = "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
CHAT_ID_2 = "chatcmpl-BRq1fZ9XgkT3hV2mWcYpLs7dNe4Ko"
CHAT_BODY_ID = "chatcmpl-AyPNinnUqUDYo9SAdA52NobMflmj2"
CHAT_TOOL_ID = "chatcmpl-C1fLwq8TnXo2RkZb7YdVaHs3PmE4u"
AZURE_ID = "chatcmpl-AdHk3xkq9PZ6vJ8mTqLw0YbN2cRfS"

RESP_ID = "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41"
RESP_BODY_ID = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"
RESP_PREV_ID = "resp_67ccd1f4a2c08190a9bb2e2e7d3f11aa0b7c5e9d31f2a6c8"

ANTH_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"
ANTH_BODY_ID = "msg_013Zva2CMHLNnXjNJJKqJ2EF"
ANTH_OLD_ID = "msg_01Aq9w938a90dw8q8quG7cXk"

# Decoys: ids that are NOT generation ids.
CHAT_CALL_ID = "call_DdmO9pD3xa9XTPNJ32zg2hcA"
RESP_CALL_ID = "call_12345xyzAbCdEf67890ghIJ"
RESP_MSG_ITEM_ID = "msg_67ccd3acc8d48190a77525dc6de64b4104becb25c45c1d41"
RESP_RS_ITEM_ID = "rs_67ccd3ab1d5c8190b7e4a0e2c6ba3a7b04becb25c45c1d41"
RESP_FC_ITEM_ID = "fc_67ccd3ad2e1081909a6c56a3f2b5e0d804becb25c45c1d41"
TOOLU_ID = "toolu_01A09q90qw90lq917835lq9"
TOOLU_ID_2 = "toolu_01T1x1fJ34qAmk2tNTrN7Up6"

# Ids that only appear inside generated text / tool arguments.
FAKE_CHAT_ID = "chatcmpl-FAKEdecoy0000000000000000000000"
FAKE_RESP_ID = "resp_FAKEdecoy00000000000000000000000000000000000000"
FAKE_ANTH_ID = "msg_01FAKEdecoy0000000000000"

DECOY_IDS = (
    CHAT_CALL_ID,
    RESP_CALL_ID,
    RESP_MSG_ITEM_ID,
    RESP_RS_ITEM_ID,
    RESP_FC_ITEM_ID,
    TOOLU_ID,
    TOOLU_ID_2,
    FAKE_CHAT_ID,
    FAKE_RESP_ID,
    FAKE_ANTH_ID,
    RESP_PREV_ID,
)

# A snippet of generated text that looks exactly like a response body.
FAKE_BODY_SNIPPET = '{"id": "' + FAKE_CHAT_ID + '", "object": "chat.completion"}'

CHAT_MODEL = "gpt-4o-mini-2024-07-18"
CHAT_BODY_MODEL = "gpt-4o-2024-08-06"
AZURE_MODEL = "gpt-4o-2024-11-20"
RESP_MODEL = "o4-mini-2025-04-16"
RESP_BODY_MODEL = "gpt-4.1-2025-04-14"
ANTH_MODEL = "claude-sonnet-4-20250514"
ANTH_BODY_MODEL = "claude-3-7-sonnet-20250219"


# --------------------------------------------------------------------------------------------
# Serialisation helpers
# --------------------------------------------------------------------------------------------


def dumps(obj: Any) -> str:
    """Compact JSON, the way the APIs put it on a data: line."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def sse(
    events: Iterable[dict[str, Any]],
    *,
    event_lines: bool = False,
    crlf: bool = False,
    done: bool = False,
    split_data: bool = False,
    data_prefix: str = "data: ",
    comments: dict[int, str] | None = None,
) -> str:
    """Render events as a text/event-stream.

    event_lines: precede each data line with ``event: <type>`` (Anthropic and Responses do).
    split_data: pretty-print each event's JSON over several ``data:`` lines (SSE joins them with "\\n").
    comments: {index: comment line} inserted before the event with that index (e.g. ": keep-alive").
    """
    nl = "\r\n" if crlf else "\n"
    blocks: list[str] = []
    for index, event in enumerate(events):
        lines: list[str] = []
        if comments and index in comments:
            lines.append(comments[index])
            lines.append("")  # a comment-only block, as OpenRouter sends it
        if event_lines:
            lines.append(f"event: {event['type']}")
        if split_data:
            lines.extend(data_prefix + part for part in json.dumps(event, indent=2).splitlines())
        else:
            lines.append(data_prefix + dumps(event))
        blocks.append(nl.join(lines))
    if done:
        blocks.append(data_prefix + "[DONE]")
    return (nl + nl).join(blocks) + nl + nl


def ndjson(events: Iterable[Any]) -> str:
    return "\n".join(dumps(event) for event in events) + "\n"


# --------------------------------------------------------------------------------------------
# OpenAI Chat Completions
# --------------------------------------------------------------------------------------------


def chat_chunk(
    chunk_id: str,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    *,
    model: str = CHAT_MODEL,
    created: int = 1741569952,
) -> dict[str, Any]:
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        "usage": None,
    }


def chat_usage_chunk(chunk_id: str, usage: dict[str, Any], *, model: str = CHAT_MODEL) -> dict[str, Any]:
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": 1741569952,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306",
        "choices": [],
        "usage": usage,
    }


CHAT_STREAM_USAGE = {
    "prompt_tokens": 1843,
    "completion_tokens": 57,
    "total_tokens": 1900,
    "prompt_tokens_details": {"cached_tokens": 1536, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
CHAT_STREAM_EXPECTED_USAGE = {
    "prompt_tokens": 1843,
    "completion_tokens": 57,
    "total_tokens": 1900,
    "cache_read_input_tokens": 1536,
    "cache_creation_input_tokens": None,
}


def chat_stream_events(
    chunk_id: str = CHAT_ID, *, usage: dict[str, Any] | None = CHAT_STREAM_USAGE
) -> list[dict[str, Any]]:
    """A streamed answer whose text quotes a fake id and a fake response body."""
    events = [
        chat_chunk(chunk_id, {"role": "assistant", "content": "", "refusal": None}),
        chat_chunk(chunk_id, {"content": "The id in your log, "}),
        chat_chunk(chunk_id, {"content": FAKE_CHAT_ID}),
        chat_chunk(chunk_id, {"content": ", came from a body like "}),
        chat_chunk(chunk_id, {"content": FAKE_BODY_SNIPPET}),
        chat_chunk(chunk_id, {"content": " (and msg_ ids are " + FAKE_ANTH_ID + ")."}),
        chat_chunk(chunk_id, {}, "stop"),
    ]
    if usage is not None:
        events.append(chat_usage_chunk(chunk_id, usage))
    return events


CHAT_STREAM_EVENTS = chat_stream_events()
CHAT_STREAM_SSE = sse(CHAT_STREAM_EVENTS, done=True)

CHAT_TOOL_STREAM_EVENTS = [
    chat_chunk(
        CHAT_TOOL_ID,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": CHAT_CALL_ID,
                    "type": "function",
                    "function": {"name": "lookup_generation", "arguments": ""},
                }
            ],
            "refusal": None,
        },
    ),
    chat_chunk(CHAT_TOOL_ID, {"tool_calls": [{"index": 0, "function": {"arguments": '{"gen'}}]}),
    chat_chunk(CHAT_TOOL_ID, {"tool_calls": [{"index": 0, "function": {"arguments": 'eration_id": "'}}]}),
    chat_chunk(CHAT_TOOL_ID, {"tool_calls": [{"index": 0, "function": {"arguments": FAKE_CHAT_ID}}]}),
    chat_chunk(CHAT_TOOL_ID, {"tool_calls": [{"index": 0, "function": {"arguments": '"}'}}]}),
    chat_chunk(CHAT_TOOL_ID, {}, "tool_calls"),
]
CHAT_TOOL_STREAM_SSE = sse(CHAT_TOOL_STREAM_EVENTS, done=True)

CHAT_BODY = {
    "id": CHAT_BODY_ID,
    "object": "chat.completion",
    "created": 1741570283,
    "model": CHAT_BODY_MODEL,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Sure. A completion body looks like " + FAKE_BODY_SNIPPET + ".",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1117,
        "completion_tokens": 46,
        "total_tokens": 1163,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035",
}
CHAT_BODY_EXPECTED_USAGE = {
    "prompt_tokens": 1117,
    "completion_tokens": 46,
    "total_tokens": 1163,
    "cache_read_input_tokens": 0,
    "cache_creation_input_tokens": None,
}

CHAT_TOOL_BODY = {
    "id": CHAT_TOOL_ID,
    "object": "chat.completion",
    "created": 1741570301,
    "model": CHAT_BODY_MODEL,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": CHAT_CALL_ID,
                        "type": "function",
                        "function": {
                            "name": "lookup_generation",
                            "arguments": json.dumps({"generation_id": FAKE_CHAT_ID}),
                        },
                    }
                ],
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    # Some OpenAI-compatible backends omit total_tokens and the details.
    "usage": {"prompt_tokens": 82, "completion_tokens": 17},
}
CHAT_TOOL_BODY_EXPECTED_USAGE = {
    "prompt_tokens": 82,
    "completion_tokens": 17,
    "total_tokens": 99,
    "cache_read_input_tokens": None,
    "cache_creation_input_tokens": None,
}

# Azure OpenAI: alphabetical keys, a content-filter-only first chunk with an empty id.
AZURE_FILTER_CHUNK = {
    "choices": [],
    "created": 0,
    "id": "",
    "model": "",
    "object": "",
    "prompt_filter_results": [
        {
            "prompt_index": 0,
            "content_filter_results": {
                "hate": {"filtered": False, "severity": "safe"},
                "jailbreak": {"filtered": False, "detected": False},
                "self_harm": {"filtered": False, "severity": "safe"},
                "sexual": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": False, "severity": "safe"},
            },
        }
    ],
}

_AZURE_SAFE = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}


def _azure_chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "choices": [
            {
                "content_filter_results": {} if not delta.get("content") else _AZURE_SAFE,
                "delta": delta,
                "finish_reason": finish_reason,
                "index": 0,
                "logprobs": None,
            }
        ],
        "created": 1733125123,
        "id": AZURE_ID,
        "model": AZURE_MODEL,
        "object": "chat.completion.chunk",
        "system_fingerprint": "fp_04751d0b65",
        "usage": None,
    }


AZURE_STREAM_EVENTS = [
    AZURE_FILTER_CHUNK,
    _azure_chunk({"content": "", "refusal": None, "role": "assistant"}),
    # Alphabetical keys: this decoy in "choices" precedes the chunk's real "id" in the text.
    _azure_chunk({"content": "Decoy: " + FAKE_CHAT_ID}),
    _azure_chunk({"content": " and " + FAKE_BODY_SNIPPET}),
    _azure_chunk({}, "stop"),
    {
        "choices": [],
        "created": 1733125123,
        "id": AZURE_ID,
        "model": AZURE_MODEL,
        "object": "chat.completion.chunk",
        "system_fingerprint": "fp_04751d0b65",
        "usage": {
            "completion_tokens": 12,
            "completion_tokens_details": {"reasoning_tokens": 0},
            "prompt_tokens": 25,
            "prompt_tokens_details": {"cached_tokens": 0},
            "total_tokens": 37,
        },
    },
]
AZURE_STREAM_SSE = sse(AZURE_STREAM_EVENTS, done=True)
AZURE_EXPECTED_USAGE = {
    "prompt_tokens": 25,
    "completion_tokens": 12,
    "total_tokens": 37,
    "cache_read_input_tokens": 0,
    "cache_creation_input_tokens": None,
}


# --------------------------------------------------------------------------------------------
# OpenAI Responses
# --------------------------------------------------------------------------------------------

RESP_STREAM_USAGE = {
    "input_tokens": 328,
    "input_tokens_details": {"cached_tokens": 128},
    "output_tokens": 152,
    "output_tokens_details": {"reasoning_tokens": 64},
    "total_tokens": 480,
}
RESP_STREAM_EXPECTED_USAGE = {
    "prompt_tokens": 328,
    "completion_tokens": 152,
    "total_tokens": 480,
    "cache_read_input_tokens": 128,
    "cache_creation_input_tokens": None,
}

_RESP_TEXT = "A Chat id looks like " + FAKE_CHAT_ID + "; a body like " + FAKE_BODY_SNIPPET + "."

_RS_ITEM = {"id": RESP_RS_ITEM_ID, "type": "reasoning", "summary": []}
_MSG_ITEM_DONE = {
    "id": RESP_MSG_ITEM_ID,
    "type": "message",
    "status": "completed",
    "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": _RESP_TEXT}],
    "role": "assistant",
}
_FC_ARGS = json.dumps({"response_id": FAKE_RESP_ID, "message_id": FAKE_ANTH_ID})
_FC_ITEM_DONE = {
    "id": RESP_FC_ITEM_ID,
    "type": "function_call",
    "status": "completed",
    "arguments": _FC_ARGS,
    "call_id": RESP_CALL_ID,
    "name": "lookup_generation",
}


def _response_object(
    resp_id: str,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    *,
    model: str = RESP_MODEL,
) -> dict[str, Any]:
    return {
        "id": resp_id,
        "object": "response",
        "created_at": 1741476777,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": "medium", "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def responses_stream_events(resp_id: str = RESP_ID) -> list[dict[str, Any]]:
    msg_in_progress = {
        "id": RESP_MSG_ITEM_ID,
        "type": "message",
        "status": "in_progress",
        "content": [],
        "role": "assistant",
    }
    fc_in_progress = dict(_FC_ITEM_DONE, status="in_progress", arguments="")
    bodies: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response_object(resp_id, "in_progress", [], None)},
        {"type": "response.in_progress", "response": _response_object(resp_id, "in_progress", [], None)},
        {"type": "response.output_item.added", "output_index": 0, "item": _RS_ITEM},
        {"type": "response.output_item.done", "output_index": 0, "item": _RS_ITEM},
        {"type": "response.output_item.added", "output_index": 1, "item": msg_in_progress},
        {
            "type": "response.content_part.added",
            "item_id": RESP_MSG_ITEM_ID,
            "output_index": 1,
            "content_index": 0,
            "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""},
        },
    ]
    for piece in ("A Chat id looks like ", FAKE_CHAT_ID, "; a body like ", FAKE_BODY_SNIPPET, "."):
        bodies.append(
            {
                "type": "response.output_text.delta",
                "item_id": RESP_MSG_ITEM_ID,
                "output_index": 1,
                "content_index": 0,
                "delta": piece,
                "logprobs": [],
                "obfuscation": "p4Zq",
            }
        )
    bodies += [
        {
            "type": "response.output_text.done",
            "item_id": RESP_MSG_ITEM_ID,
            "output_index": 1,
            "content_index": 0,
            "text": _RESP_TEXT,
            "logprobs": [],
        },
        {
            "type": "response.content_part.done",
            "item_id": RESP_MSG_ITEM_ID,
            "output_index": 1,
            "content_index": 0,
            "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": _RESP_TEXT},
        },
        {"type": "response.output_item.done", "output_index": 1, "item": _MSG_ITEM_DONE},
        {"type": "response.output_item.added", "output_index": 2, "item": fc_in_progress},
        {
            "type": "response.function_call_arguments.delta",
            "item_id": RESP_FC_ITEM_ID,
            "output_index": 2,
            "delta": _FC_ARGS,
        },
        {
            "type": "response.function_call_arguments.done",
            "item_id": RESP_FC_ITEM_ID,
            "output_index": 2,
            "arguments": _FC_ARGS,
        },
        {"type": "response.output_item.done", "output_index": 2, "item": _FC_ITEM_DONE},
        {
            "type": "response.completed",
            "response": _response_object(
                resp_id, "completed", [_RS_ITEM, _MSG_ITEM_DONE, _FC_ITEM_DONE], RESP_STREAM_USAGE
            ),
        },
    ]
    # sequence_number goes right after "type", as the API serialises it.
    return [
        {"type": body["type"], "sequence_number": n, **{k: v for k, v in body.items() if k != "type"}}
        for n, body in enumerate(bodies)
    ]


RESP_STREAM_EVENTS = responses_stream_events()
RESP_STREAM_SSE = sse(RESP_STREAM_EVENTS, event_lines=True)

RESP_BODY = _response_object(
    RESP_BODY_ID,
    "completed",
    [_RS_ITEM, _FC_ITEM_DONE, _MSG_ITEM_DONE],
    {
        "input_tokens": 36,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 87,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 123,
    },
    model=RESP_BODY_MODEL,
)
RESP_BODY_EXPECTED_USAGE = {
    "prompt_tokens": 36,
    "completion_tokens": 87,
    "total_tokens": 123,
    "cache_read_input_tokens": 0,
    "cache_creation_input_tokens": None,
}

# A follow-up turn: previous_response_id names an earlier, different generation.
RESP_INCOMPLETE_BODY = dict(
    _response_object(
        RESP_BODY_ID,
        "incomplete",
        [_RS_ITEM],
        {
            "input_tokens": 5120,
            "input_tokens_details": {"cached_tokens": 4096},
            "output_tokens": 256,
            "output_tokens_details": {"reasoning_tokens": 256},
            "total_tokens": 5376,
        },
        model=RESP_MODEL,
    ),
    incomplete_details={"reason": "max_output_tokens"},
    max_output_tokens=256,
    previous_response_id=RESP_PREV_ID,
)
RESP_INCOMPLETE_EXPECTED_USAGE = {
    "prompt_tokens": 5120,
    "completion_tokens": 256,
    "total_tokens": 5376,
    "cache_read_input_tokens": 4096,
    "cache_creation_input_tokens": None,
}


# --------------------------------------------------------------------------------------------
# Anthropic Messages
# --------------------------------------------------------------------------------------------


def anthropic_stream_events(
    msg_id: str = ANTH_ID, *, delta_usage: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    return [
        {
            "type": "message_start",
            "message": {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": ANTH_MODEL,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 472,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 2048,
                    "output_tokens": 1,
                    "service_tier": "standard",
                },
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Looking up "}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": FAKE_ANTH_ID}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {
                "type": "text_delta",
                "text": ' — it looks like {"id": "'
                + FAKE_ANTH_ID
                + '", "type": "message"} and '
                + FAKE_BODY_SNIPPET,
            },
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": TOOLU_ID, "name": "lookup_generation", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"generation_id": "' + FAKE_CHAT_ID[:14]},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": FAKE_CHAT_ID[14:] + '"}'},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": delta_usage if delta_usage is not None else {"output_tokens": 89},
        },
        {"type": "message_stop"},
    ]


ANTH_STREAM_EVENTS = anthropic_stream_events()
ANTH_STREAM_SSE = sse(ANTH_STREAM_EVENTS, event_lines=True)
ANTH_STREAM_EXPECTED_USAGE = {
    "prompt_tokens": 472,
    "completion_tokens": 89,
    "total_tokens": 561,
    "cache_read_input_tokens": 2048,
    "cache_creation_input_tokens": 0,
}

# Newer API versions repeat the (cumulative) input and cache counts in message_delta.
ANTH_STREAM_FULL_DELTA_EVENTS = anthropic_stream_events(
    delta_usage={
        "input_tokens": 472,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 2048,
        "output_tokens": 89,
    }
)

ANTH_BODY = {
    "id": ANTH_BODY_ID,
    "type": "message",
    "role": "assistant",
    "model": ANTH_BODY_MODEL,
    "content": [
        {"type": "text", "text": "I'll check " + FAKE_ANTH_ID + " for you. " + FAKE_BODY_SNIPPET},
        {
            "type": "tool_use",
            "id": TOOLU_ID_2,
            "name": "lookup_generation",
            "input": {"generation_id": FAKE_RESP_ID},
        },
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 2095,
        "cache_creation_input_tokens": 1024,
        "cache_read_input_tokens": 0,
        "output_tokens": 503,
        "service_tier": "standard",
    },
}
ANTH_BODY_EXPECTED_USAGE = {
    "prompt_tokens": 2095,
    "completion_tokens": 503,
    "total_tokens": 2598,
    "cache_read_input_tokens": 0,
    "cache_creation_input_tokens": 1024,
}

# An older body without cache fields: they stay None.
ANTH_BODY_NO_CACHE = {
    "id": ANTH_OLD_ID,
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-haiku-20241022",
    "content": [{"type": "text", "text": "Hello!"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 10, "output_tokens": 25},
}
ANTH_BODY_NO_CACHE_EXPECTED_USAGE = {
    "prompt_tokens": 10,
    "completion_tokens": 25,
    "total_tokens": 35,
    "cache_read_input_tokens": None,
    "cache_creation_input_tokens": None,
}


# --------------------------------------------------------------------------------------------
# Requests and lone items: they contain ids, but none is the generation id.
# --------------------------------------------------------------------------------------------

# A Responses output item on its own: looks like an Anthropic message but is not one.
RESP_MESSAGE_ITEM_ALONE = {
    "id": RESP_MSG_ITEM_ID,
    "type": "message",
    "role": "assistant",
    "status": "completed",
    "content": [{"type": "output_text", "text": "Hi there!", "annotations": []}],
}

CHAT_REQUEST_WITH_TOOL_HISTORY = {
    "model": "gpt-4o-mini",
    "stream": True,
    "stream_options": {"include_usage": True},
    "messages": [
        {"role": "user", "content": "What does " + FAKE_BODY_SNIPPET + " mean?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": CHAT_CALL_ID,
                    "type": "function",
                    "function": {"name": "lookup_generation", "arguments": '{"id":"' + FAKE_CHAT_ID + '"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": CHAT_CALL_ID, "content": "not found"},
    ],
}

ANTHROPIC_REQUEST_WITH_TOOL_HISTORY = {
    "model": ANTH_MODEL,
    "max_tokens": 1024,
    "messages": [
        {"role": "user", "content": "Find " + FAKE_ANTH_ID},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": TOOLU_ID,
                    "name": "lookup_generation",
                    "input": {"id": FAKE_ANTH_ID},
                }
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": TOOLU_ID, "content": "none"}]},
    ],
}
