"""The SSE fast path (events skipped unparsed) finds exactly what parsing every event finds.

Differential: random captures assembled from real event shapes of all three families, with
the decisive events (usage, finish reasons, tool calls, a second stream, a changed model)
at random places, are read with and without the fast path and must give the same result.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from kushrouter_mcp.extraction import NoGenerationIdFound, extract_generations
from kushrouter_mcp.extraction.fast_path import InertEvents


def _chunk(gen_id: str, delta: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": gen_id,
        "object": "chat.completion.chunk",
        "created": 1731753062,
        "model": extra.pop("model", "gpt-5-mini"),
        "system_fingerprint": "fp_1",
        "choices": [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": extra.pop("finish", None)}
        ],
        **extra,
    }


def _text(rng: random.Random) -> str:
    return rng.choice(["Hello", ' "quoted" ', "é ü 中", "line\nbreak", '{"id": "chatcmpl-fake"}', "\\", ""])


def _chat_events(rng: random.Random, gen_id: str) -> list[dict[str, Any]]:
    events = [_chunk(gen_id, {"role": "assistant", "content": ""}, usage=None)]
    for _ in range(rng.randint(0, 30)):
        roll = rng.random()
        if roll < 0.05:
            events.append(_chunk(gen_id, {"tool_calls": [{"index": 0, "id": "call_1", "function": {}}]}))
        elif roll < 0.1:
            events.append(_chunk(gen_id, {}, finish=rng.choice(["stop", "length"])))
        elif roll < 0.13:
            events.append(_chunk(gen_id, {"content": _text(rng)}, model="gpt-5-other"))
        elif roll < 0.18:
            usage = {"prompt_tokens": rng.randint(1, 99), "completion_tokens": 2, "total_tokens": 3}
            events.append(_chunk(gen_id, {}, usage=usage))
        else:
            events.append(_chunk(gen_id, {"content": _text(rng)}, usage=None if rng.random() < 0.5 else {}))
    return events


def _anthropic_events(rng: random.Random) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {"id": "msg_01abc", "model": "claude", "usage": {"input_tokens": 5}},
        }
    ]
    for _ in range(rng.randint(0, 10)):
        text = {"type": "text_delta", "text": _text(rng)}
        events.append({"type": "content_block_delta", "index": 0, "delta": text})
        if rng.random() < 0.2:
            events.append(
                {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}
            )
    return events


def _responses_events(rng: random.Random) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}
    ]
    for number in range(rng.randint(0, 10)):
        events.append(
            {
                "type": "response.output_text.delta",
                "sequence_number": number,
                "item_id": "msg_2",
                "delta": _text(rng),
            }
        )
    if rng.random() < 0.7:
        usage = {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
        events.append(
            {
                "type": "response.completed",
                "response": {"id": "resp_1", "status": "completed", "usage": usage},
            }
        )
    return events


def _capture(rng: random.Random) -> str:
    events = _chat_events(rng, "chatcmpl-1001")
    for extra in rng.sample(["second chat", "anthropic", "responses"], rng.randint(0, 3)):
        more = {
            "second chat": lambda: _chat_events(rng, "chatcmpl-1002"),
            "anthropic": lambda: _anthropic_events(rng),
            "responses": lambda: _responses_events(rng),
        }[extra]()
        at = rng.randint(0, len(events))
        events[at:at] = more
    return _sse(rng, events) if rng.random() < 0.5 else _ndjson(rng, events)


def _json(rng: random.Random, event: dict[str, Any]) -> str:
    separators = (",", ":") if rng.random() < 0.7 else (", ", ": ")
    return json.dumps(event, separators=separators, ensure_ascii=rng.random() < 0.5)


def _truncated(rng: random.Random, text: str) -> str:
    return text[: rng.randint(len(text) // 2, len(text))] if rng.random() < 0.2 else text


def _sse(rng: random.Random, events: list[dict[str, Any]]) -> str:
    lines = []
    named = rng.random() < 0.5  # Anthropic and Responses streams carry `event:` lines
    for event in events:
        name = f"event: {event.get('type', 'chunk')}\n" if named else ""
        lines.append(f"{name}data: {_json(rng, event)}\n" + ("\n" if rng.random() < 0.95 else ""))
    return _truncated(rng, "".join(lines) + "data: [DONE]\n\n")


def _ndjson(rng: random.Random, events: list[dict[str, Any]]) -> str:
    """One event a line, with now and then a pretty-printed one, prose, or a line holding two."""
    newline = "\r\n" if rng.random() < 0.2 else "\n"
    lines = []
    for event in events:
        roll = rng.random()
        if roll < 0.03:
            lines.append(json.dumps(event, indent=2))  # spans lines: a line of it is no document
        elif roll < 0.05:
            lines.append(f"log: {_json(rng, event)}")
        elif roll < 0.07:
            lines.append(_json(rng, event) + " " + _json(rng, event))
        else:
            lines.append(_json(rng, event))
    text = newline.join(lines)
    if rng.random() < 0.3:
        text = f"Here is the capture:\n```json\n{text}\n```\nThat is all."
    return _truncated(rng, text)


def _everything_parsed(text: str) -> dict[str, Any] | None:
    original = InertEvents.take
    InertEvents.take = lambda self, data: False  # type: ignore[method-assign]
    try:
        return _result(text)
    finally:
        InertEvents.take = original  # type: ignore[method-assign]


def _result(text: str) -> dict[str, Any] | None:
    try:
        return extract_generations(text).model_dump()
    except NoGenerationIdFound:
        return None


@pytest.mark.parametrize("seed", range(300))
def test_fast_path_finds_what_parsing_every_event_finds(seed: int) -> None:
    text = _capture(random.Random(seed))
    assert _result(text) == _everything_parsed(text)


def test_runs_of_text_chunks_are_skipped_and_the_usage_chunk_is_still_read() -> None:
    head = '{"id":"chatcmpl-run","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    delta = head + '[{"index":0,"delta":{"content":"%s"},"finish_reason":null}],"usage":null}'
    events = [delta % text for text in ("a", 'say \\"usage\\"', "\\u00e9", "b" * 1000)] * 500
    events.append(head + '[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}')
    events.append(head + '[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}')
    text = "".join(f"data: {event}\n\n" for event in events)
    found = extract_generations(text)
    assert (found.id, found.finish_reason, found.usage and found.usage.total_tokens) == (
        "chatcmpl-run",
        "stop",
        3,
    )
    assert InertEvents().take(events[0]) is False  # nothing learned yet: parsed


def test_a_second_stream_whose_id_differs_only_in_digits_is_not_skipped() -> None:
    chunk = '{"id":"chatcmpl-%d","object":"chat.completion.chunk","choices":[{"delta":{"content":"x"}}]}'
    text = (
        "".join(f"data: {chunk % number}\n\n" for number in (1001, 1001, 1001, 1002, 1002))
        + "data: [DONE]\n\n"
    )
    assert extract_generations(text).ids == ["chatcmpl-1001", "chatcmpl-1002"]


def test_events_differing_only_in_numbers_and_text_are_skipped_as_one_run() -> None:
    deltas = "".join(
        f"event: response.output_text.delta\n"
        f'data: {{"type":"response.output_text.delta","sequence_number":{n},'
        f'"item_id":"msg_{n % 3}","delta":"word {n} \\"quoted\\""}}\n\n'
        for n in range(2000)
    )
    done = '{"type":"response.completed","response":{"id":"resp_9","status":"completed"}}'
    text = f'data: {{"type":"response.created","response":{{"id":"resp_9"}}}}\n\n{deltas}data: {done}\n\n'
    inert = InertEvents()
    assert inert.take(deltas.split("data: ")[1].split("\n")[0]) and inert.run is not None
    position, matches = 0, 0
    while (run := inert.run.match(deltas, position)) is not None:
        position, matches = run.end(), matches + 1
    assert (position, matches) == (len(deltas), 8)  # all 2000, 256 to a match
    found = extract_generations(text)
    assert (found.id, found.status) == ("resp_9", "completed")
