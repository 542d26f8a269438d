"""Properties over every prefix and suffix of real payloads: truncated or captured from the middle,
extraction either finds real ids only — never a decoy, never an id cut short — or says it found none."""

from __future__ import annotations

import json

import pytest

import payloads as p
from kushrouter_mcp.extraction import NoGenerationIdFound, extract_generations
from kushrouter_mcp.sandbox.samples import SAMPLE_PAYLOADS

REAL_IDS = {
    p.CHAT_ID,
    p.CHAT_TOOL_ID,
    p.CHAT_BODY_ID,
    p.AZURE_ID,
    p.RESP_ID,
    p.RESP_BODY_ID,
    p.ANTH_ID,
    p.ANTH_BODY_ID,
}
STREAMS = {
    "chat": p.CHAT_STREAM_SSE,
    "chat-tools": p.CHAT_TOOL_STREAM_SSE,
    "azure": p.AZURE_STREAM_SSE,
    "responses": p.sse(p.RESP_STREAM_EVENTS, event_lines=True),
    "anthropic-crlf": p.sse(p.ANTH_STREAM_EVENTS, event_lines=True).replace("\n", "\r\n"),
    "chat-tool-body": p.dumps(p.CHAT_TOOL_BODY),
    "responses-body-pretty": json.dumps(p.RESP_BODY, indent=2),
    "anthropic-body-in-prose": f"The API answered:\n```json\n{json.dumps(p.ANTH_BODY, indent=1)}\n```\nDone.",
    **{f"sample-{name}": text for name, text in SAMPLE_PAYLOADS.items()},
}
SAMPLE_IDS = {"chatcmpl-1731753062-2q7nyc", "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
              "msg_01XFDUDYJgAACzvnptvVoYEL"}  # fmt: skip


def ids_or_none(text: str) -> list[str]:
    try:
        return extract_generations(text).ids
    except NoGenerationIdFound:
        return []


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_every_truncation_yields_only_real_ids(name: str) -> None:
    text = STREAMS[name]
    full = ids_or_none(text)
    assert full and set(full) <= REAL_IDS | SAMPLE_IDS
    for cut in range(0, len(text), 3):
        found = ids_or_none(text[:cut])
        assert set(found) <= set(full), (name, cut, found)


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_every_capture_from_the_middle_yields_only_real_ids(name: str) -> None:
    text = STREAMS[name]
    full = set(ids_or_none(text))
    for start in range(0, len(text), 3):
        found = ids_or_none(text[start:])
        assert set(found) <= full, (name, start, found)


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_usage_never_exceeds_what_the_whole_payload_reports(name: str) -> None:
    """A cut number must not come back as a smaller (wrong) count: every count seen is a final one."""
    text = STREAMS[name]
    whole = extract_generations(text)
    final = {g.id: g.usage.model_dump(exclude_none=True) if g.usage else {} for g in whole.generations}
    for cut in range(0, len(text), 7):
        try:
            partial = extract_generations(text[:cut])
        except NoGenerationIdFound:
            continue
        for generation in partial.generations:
            seen = generation.usage.model_dump(exclude_none=True) if generation.usage else {}
            for field, value in seen.items():
                if (
                    field in ("completion_tokens", "total_tokens")
                    and generation.endpoint == "anthropic.messages"
                ):
                    continue  # message_start's provisional output count is legitimately smaller
                assert value == final[generation.id].get(field, value), (name, cut, field, value)
