"""The sandbox's sample data: demo keys, seeded generation records, payloads a client captured.

Fake values only. Tests, the demo and the sandbox API all take them from here.
"""

from __future__ import annotations

import json
from typing import Any, Final

# --- Keys -------------------------------------------------------------------------------------------

ALICE_KEY: Final = "kr_sandbox_alice_3f9a1c7e5b2d"
BOB_KEY: Final = "kr_sandbox_bob_8e1d4a6c0f7b"
KEY_OWNERS: Final[dict[str, str]] = {ALICE_KEY: "alice", BOB_KEY: "bob"}
API_KEY_IDS: Final[dict[str, str]] = {"alice": "ak_sandbox_alice", "bob": "ak_sandbox_bob"}

# --- Seeded generation records --------------------------------------------------------------------

CHAT_ID: Final = "chatcmpl-1731753062-2q7nyc"
RESPONSES_ID: Final = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"
RESPONSES_ACTION_ID: Final = "resp_68b2e1f4a0c38190a7d2e5f6b1c4d8e90f3a6b7c2d5e8f14"
ANTHROPIC_ID: Final = "msg_01XFDUDYJgAACzvnptvVoYEL"
EXTRA_FIELDS_ID: Final = "chatcmpl-1731754120-x7k2mf"
WEIRD_ID: Final = "chatcmpl-a&b=c#d%e+f"
BOB_ONLY_ID: Final = "msg_01Hb7Tq2LwZs9NcV4mKpR8dE"
# A model no price list knows (a router's own fine-tune): its estimate says how to add a price.
UNPRICED_ID: Final = "chatcmpl-1731760321-u4np9z"
UNPRICED_MODEL: Final = "kush-support-ft-7b"


def _usage(prompt: int, completion: int, cache_creation: int = 0, cache_read: int = 0) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cache_creation_input_tokens": cache_creation,
        "cache_read_input_tokens": cache_read,
    }


def chat_record(gen_id: str, api_key_id: str) -> dict[str, Any]:
    return {
        "id": gen_id,
        "endpoint": "openai.chat.completions",
        "stream": True,
        "model": "gpt-5-mini-2025-08-07",
        "created_at": 1731753062,
        "apiKeyId": api_key_id,
        "usage": _usage(121, 345),
        "finish_reason": "stop",
    }


SEED_RECORDS: Final[dict[str, dict[str, Any]]] = {
    CHAT_ID: chat_record(CHAT_ID, API_KEY_IDS["alice"]),
    RESPONSES_ID: {
        "id": RESPONSES_ID,
        "endpoint": "openai.responses",
        "stream": False,
        "model": "gpt-5-2025-08-07",
        "created_at": 1741476542,
        "apiKeyId": API_KEY_IDS["alice"],
        "usage": _usage(1840, 512, cache_read=1024),
        "finish_reason": "stop",
        "status": "completed",
    },
    RESPONSES_ACTION_ID: {
        "id": RESPONSES_ACTION_ID,
        "endpoint": "openai.responses",
        "stream": True,
        "model": "gpt-5-2025-08-07",
        "created_at": 1741477210,
        "apiKeyId": API_KEY_IDS["alice"],
        "usage": _usage(956, 88),
        "finish_reason": "tool_calls",
        "status": "requires_action",
    },
    ANTHROPIC_ID: {
        "id": ANTHROPIC_ID,
        "endpoint": "anthropic.messages",
        "stream": True,
        "model": "claude-sonnet-4-5-20250929",
        "created_at": 1759312845,
        "apiKeyId": API_KEY_IDS["alice"],
        # Anthropic's input_tokens excludes cached tokens; the record keeps them apart the same way.
        "usage": _usage(412, 503, cache_creation=1536, cache_read=2048),
        "finish_reason": "end_turn",
    },
    EXTRA_FIELDS_ID: {
        **chat_record(EXTRA_FIELDS_ID, API_KEY_IDS["alice"]),
        # Fields a future API version might add: clients must pass them through untouched.
        "cost": {"input_usd": 0.0012, "output_usd": 0.0034},
        "latency_ms": 842,
        "provider": {"name": "openai", "region": "us-east-1"},
    },
    WEIRD_ID: chat_record(WEIRD_ID, API_KEY_IDS["alice"]),
    UNPRICED_ID: {
        **chat_record(UNPRICED_ID, API_KEY_IDS["alice"]),
        "model": UNPRICED_MODEL,
        "created_at": 1731760321,
    },
    BOB_ONLY_ID: {
        "id": BOB_ONLY_ID,
        "endpoint": "anthropic.messages",
        "stream": False,
        "model": "claude-sonnet-4-5-20250929",
        "created_at": 1759313001,
        "apiKeyId": API_KEY_IDS["bob"],
        "usage": _usage(230, 77),
        "finish_reason": "end_turn",
    },
}

# --- Sample payloads (what a client captured), one per endpoint family ----------------------------


def _sse(events: list[tuple[str | None, dict[str, Any] | str]]) -> str:
    """Server-sent events text: optional `event:` line, one `data:` line, blank line after each."""
    blocks = []
    for event, data in events:
        line = f"data: {data if isinstance(data, str) else json.dumps(data)}"
        blocks.append(f"event: {event}\n{line}\n\n" if event else f"{line}\n\n")
    return "".join(blocks)


def _chat_chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": CHAT_ID,
        "object": "chat.completion.chunk",
        "created": 1731753062,
        "model": "gpt-5-mini-2025-08-07",
        "system_fingerprint": None,
        "choices": choices,
        **extra,
    }


def _chat_choice(delta: dict[str, str], finish_reason: str | None = None) -> list[dict[str, Any]]:
    return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]


_CHAT_STREAM: Final = _sse(
    [
        (None, _chat_chunk(_chat_choice({"role": "assistant", "content": ""}))),
        (None, _chat_chunk(_chat_choice({"content": "The capital of France"}))),
        (None, _chat_chunk(_chat_choice({"content": " is Paris."}))),
        (None, _chat_chunk(_chat_choice({}, "stop"))),
        (
            None,
            _chat_chunk(
                [],
                usage={
                    "prompt_tokens": 121,
                    "completion_tokens": 345,
                    "total_tokens": 466,
                    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 320, "audio_tokens": 0},
                },
            ),
        ),
        (None, "[DONE]"),
    ]
)

_RESPONSES_BODY: Final = json.dumps(
    {
        "id": RESPONSES_ID,
        "object": "response",
        "created_at": 1741476542,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "model": "gpt-5-2025-08-07",
        "output": [
            {"id": "rs_67ccd2bf0a3c8190b3b8e4a3d0f7c1e20bb6a6b452d3795b", "type": "reasoning", "summary": []},
            {
                "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": "Here is the summary you asked for.", "annotations": []}
                ],
            },
        ],
        "usage": {
            "input_tokens": 1840,
            "input_tokens_details": {"cached_tokens": 1024},
            "output_tokens": 512,
            "output_tokens_details": {"reasoning_tokens": 384},
            "total_tokens": 2352,
        },
    },
    indent=2,
)

_ANTHROPIC_STREAM: Final = _sse(
    [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": ANTHROPIC_ID,
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5-20250929",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 412,
                        "cache_creation_input_tokens": 1536,
                        "cache_read_input_tokens": 2048,
                        "output_tokens": 1,
                    },
                },
            },
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 503},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
)

SAMPLE_PAYLOADS: Final[dict[str, str]] = {
    "openai.chat.completions": _CHAT_STREAM,
    "openai.responses": _RESPONSES_BODY,
    "anthropic.messages": _ANTHROPIC_STREAM,
}
