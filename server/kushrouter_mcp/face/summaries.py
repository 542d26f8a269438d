"""The text half of each tool result: short summaries a person or an agent reads first."""

from __future__ import annotations

import time
from typing import Any

from ..extraction.results import ExtractedGeneration, ExtractionResult
from ..records.models import USAGE_FIELDS, Generation


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "?"


def summarize_usage(usage: dict[str, Any] | None) -> str:
    if not usage or not any(usage.get(name) is not None for name in USAGE_FIELDS):
        return "no usage reported"
    text = (
        f"{_count(usage.get('prompt_tokens'))} prompt + {_count(usage.get('completion_tokens'))} completion "
        f"= {_count(usage.get('total_tokens'))} total tokens"
    )
    cache = [
        f"cache {label} {_count(usage[name])}"
        for name, label in (("cache_read_input_tokens", "read"), ("cache_creation_input_tokens", "write"))
        if usage.get(name) is not None
    ]
    return text + (f" ({', '.join(cache)})" if cache else "")


def _created(value: object) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e11:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))  # a third of datetime's cost
    return str(value) if value else None


def _stream_label(value: object) -> str | None:
    if isinstance(value, bool):
        return "streamed" if value else "not streamed"
    return None


_RECORD_FIELDS = frozenset(Generation.model_fields)  # made once: summarize_record runs on every lookup


def summarize_record(record: dict[str, Any]) -> str:
    details = [
        record.get("endpoint"),
        f"model {record['model']}" if record.get("model") else None,
        _stream_label(record.get("stream")),
        f"finish_reason {record['finish_reason']}" if record.get("finish_reason") else None,
        f"status {record['status']}" if record.get("status") else None,
        f"created {created}" if (created := _created(record.get("created_at"))) else None,
    ]
    lines = [
        f"Generation {record['id']}: {', '.join(str(d) for d in details if d)}.",
        f"Billed usage: {summarize_usage(record.get('usage'))}.",
    ]
    extra = sorted(record.keys() - _RECORD_FIELDS)
    if extra:
        lines.append(f"Also in the record: {', '.join(extra)}.")
    return "\n".join(lines)


_LISTED_PROBLEMS = 20


def summarize_batch(batch: dict[str, Any], wait_seconds: float) -> str:
    counts, overall = batch["counts"], batch["totals"]["overall"]
    lines = [
        f"Looked up {counts['ids']} distinct ids: {counts['found']} found, {counts['not_found']} not found, "
        f"{counts['failed']} failed.",
        f"Billed usage of the {overall['generations']} found: {summarize_usage(overall)}.",
    ]
    by_model = batch["totals"]["by_model"]
    if len(by_model) > 1:
        lines.extend(f"- {model}: {summarize_usage(usage)}" for model, usage in by_model.items())
    problems = [item for item in batch["results"] if "error" in item]
    for item in problems[:_LISTED_PROBLEMS]:
        lines.append(f"{item['id']}: {item['error']['kind']} — {item['error']['message']}")
    if len(problems) > _LISTED_PROBLEMS:
        lines.append(f"… and {len(problems) - _LISTED_PROBLEMS} more (see results).")
    if wait_seconds and counts["not_found"]:
        lines.append(f"Ids not found were polled for up to {wait_seconds:g} s each.")
    found = [item for item in batch["results"] if "generation" in item]
    waited = max((item.get("waited_seconds") or 0.0 for item in found), default=0.0)
    if waited:
        lines.append(f"Waited up to {waited:.1f} s for a record to appear.")
    return "\n".join(lines)


def _describe(found: ExtractedGeneration) -> str:
    kind = {True: "stream", False: "response body", None: "bare id"}[found.stream]
    model = f", model {found.model}" if found.model else ""
    usage = summarize_usage(found.usage.model_dump() if found.usage else None)
    return f"{found.id} ({found.endpoint} {kind}{model}; usage in the payload: {usage})"


def summarize_extraction(result: ExtractionResult) -> str:
    if len(result.generations) == 1:
        head = f"Found generation {_describe(result)}."
    else:
        listed = "\n".join(f"- {_describe(g)}" for g in result.generations)
        head = f"Found {len(result.generations)} generations, in order of appearance:\n{listed}"
    return f"{head}\nLook it up with get_generation to see what KushRouter billed."
