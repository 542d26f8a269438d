"""The text half of each tool result: short summaries a person or an agent reads first."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..extraction.results import ExtractedGeneration, ExtractionResult
from ..records.models import USAGE_FIELDS, Generation, estimate_of
from ..records.totals import usd
from ..reports.report import report_table

if TYPE_CHECKING:
    from ..ledger import LedgerState


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


def _basis(sources: Iterable[str | None]) -> str:
    """Where the prices came from, in one phrase: "at list price, genai-prices …" or "at your prices"."""
    named = sorted({source for source in sources if source})
    if not named:
        return ""
    if all(source.startswith("prices file") for source in named):
        return f" at your prices ({'; '.join(named)})"
    if any(source.startswith("prices file") for source in named):
        return f" at your prices and list prices ({'; '.join(named)})"
    return f" at list price, {'; '.join(named)}"


def summarize_cost(estimate: dict[str, Any] | None) -> str | None:
    """One line for a record's or a payload's estimate; an unpriced one says why, with no amount."""
    if not estimate:
        return None
    total = estimate.get("total")
    if total is None:
        return f"Estimated cost: not priced. {estimate.get('note') or ''}".rstrip()
    parts = ", ".join(
        f"{label} {usd(estimate[name])}"
        for name, label in (
            ("input", "input"),
            ("cache_read", "cache read"),
            ("cache_write", "cache write"),
            ("output", "output"),
        )
        if estimate.get(name)
    )
    return f"Estimated cost: ≈ {usd(total)}{_basis([estimate.get('source')])} ({parts or 'no tokens'})."


def _group_cost(totals: dict[str, Any]) -> str:
    cost, unpriced = totals.get("estimated_cost_usd"), totals.get("unpriced") or 0
    if cost is None:
        return "not priced" if unpriced else ""
    return f"≈ {usd(cost)}" + (f", {unpriced} not priced" if unpriced else "")


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
    cost = summarize_cost(estimate_of(record))
    if cost:
        lines.append(cost)
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
    found = [item["generation"] for item in batch["results"] if "generation" in item]
    cost_line = _batch_cost(overall, found)
    if cost_line:
        lines.append(cost_line)
    by_model = batch["totals"]["by_model"]
    if len(by_model) > 1:
        lines.extend(
            f"- {model}: {summarize_usage(usage)}" + (f"; {cost}" if (cost := _group_cost(usage)) else "")
            for model, usage in by_model.items()
        )
    problems = [item for item in batch["results"] if "error" in item]
    for item in problems[:_LISTED_PROBLEMS]:
        lines.append(f"{item['id']}: {item['error']['kind']} — {item['error']['message']}")
    if len(problems) > _LISTED_PROBLEMS:
        lines.append(f"… and {len(problems) - _LISTED_PROBLEMS} more (see results).")
    if wait_seconds and counts["not_found"]:
        lines.append(f"Ids not found were polled for up to {wait_seconds:g} s each.")
    waited = max(
        (item.get("waited_seconds") or 0.0 for item in batch["results"] if "generation" in item), default=0.0
    )
    if waited:
        lines.append(f"Waited up to {waited:.1f} s for a record to appear.")
    return "\n".join(lines)


def _batch_cost(overall: dict[str, Any], records: list[dict[str, Any]]) -> str | None:
    """The batch's cost line: the priced sum with its basis, and how many records it leaves out."""
    estimates = [estimate_of(record) for record in records]
    if not overall.get("generations") or not any(estimates):
        return None  # nothing found, or estimates are off
    cost, unpriced = overall.get("estimated_cost_usd"), overall.get("unpriced") or 0
    if cost is None:
        found = overall["generations"]
        return f"Estimated cost: none of the {found} found could be priced (see each estimate's note)."
    sources = (
        estimate.get("source") for estimate in estimates if estimate and estimate.get("total") is not None
    )
    line = f"Estimated cost: ≈ {usd(cost)}{_basis(sources)}"
    if unpriced:
        line += f"; {unpriced} of the {overall['generations']} not priced, so this is a partial sum"
    return line + "." + _unpriced_lines(records)


_LISTED_UNPRICED = 5


def _unpriced_lines(records: list[dict[str, Any]]) -> str:
    """Which records have no price, and why (the first one's note; the rest are usually alike)."""
    unpriced = [record for record in records if (estimate_of(record) or {}).get("total") is None]
    if not unpriced:
        return ""
    listed = ", ".join(
        f"{record['id']} ({record.get('model') or 'no model'})" for record in unpriced[:_LISTED_UNPRICED]
    )
    more = f" and {len(unpriced) - _LISTED_UNPRICED} more" if len(unpriced) > _LISTED_UNPRICED else ""
    return f"\nNot priced: {listed}{more}. {(estimate_of(unpriced[0]) or {}).get('note') or ''}".rstrip()


def _claimed(estimate: dict[str, Any] | None) -> str:
    """What the payload's own usage costs, in a few words; nothing when there was no usage to price."""
    if not estimate:
        return ""
    if estimate.get("total") is None:
        return "; its cost not priced (see estimated_cost.note)"
    return f"; ≈ {usd(estimate['total'])}{_basis([estimate.get('source')])}"


def _describe(found: ExtractedGeneration, estimate: dict[str, Any] | None) -> str:
    kind = {True: "stream", False: "response body", None: "bare id"}[found.stream]
    model = f", model {found.model}" if found.model else ""
    usage = summarize_usage(found.usage.model_dump() if found.usage else None)
    return f"{found.id} ({found.endpoint} {kind}{model}; usage in the payload: {usage}{_claimed(estimate)})"


def summarize_extraction(
    result: ExtractionResult, estimates: list[dict[str, Any] | None] | None = None
) -> str:
    """The ids found; `estimates` (one per generation, same order) price what each payload reported."""
    costs = estimates or [None] * len(result.generations)
    if len(result.generations) == 1:
        head = f"Found generation {_describe(result, costs[0])}."
    else:
        listed = "\n".join(
            f"- {_describe(g, cost)}" for g, cost in zip(result.generations, costs, strict=True)
        )
        head = f"Found {len(result.generations)} generations, in order of appearance:\n{listed}"
    return f"{head}\nLook it up with get_generation to see what KushRouter billed."


# --- usage_report ------------------------------------------------------------------------------------


def no_key_for_report() -> str:
    return (
        "No KushRouter API key is configured, and the ledger keeps each key's records apart, so there "
        "is no one's usage to report. Set KUSHROUTER_API_KEY (the kr_… key your lookups use) in this "
        "MCP server's environment and restart it; `kushrouter-mcp report --all-keys` shows every key's "
        "records to the machine's owner."
    )


def _records(count: int) -> str:
    return f"{count} record" if count == 1 else f"{count} records"


def report_caveats(totals: dict[str, Any]) -> list[str]:
    """What to know about a report's totals: a partial cost, records that may still change."""
    caveats = []
    if totals["unpriced"]:
        caveats.append(
            f"{totals['unpriced']} of {_records(totals['generations'])} not priced: the cost is partial."
        )
    if totals["not_final"]:
        verb, pronoun = ("was", "it") if totals["not_final"] == 1 else ("were", "them")
        caveats.append(
            f"{_records(totals['not_final'])} {verb} not final when looked up; `kushrouter-mcp report "
            f"--refresh` looks {pronoun} up again."
        )
    return caveats


def summarize_report(report: dict[str, Any], state: LedgerState | None) -> str:
    """The period, the table and what to know about its figures; or why there is nothing in it."""
    period = f"{report['since']} to {report['until']} (UTC)"
    totals = report["totals"]
    if not totals["generations"]:
        return f"Nothing recorded from {period}. {_why_empty(state)}"
    lines = [report_heading(report, "from this server's ledger"), report_table(report)]
    if report["more_rows"]:
        lines.append(f"{report['more_rows']} more rows not shown (raise limit); the total counts them.")
    lines += report_caveats(totals)
    if state is not None and state.problem:
        lines.append(f"The ledger can't be written right now ({state.problem}): {_waiting(state)}.")
    lines.append("Costs are estimates at list prices (or your prices file), not an invoice.")
    return "\n".join(lines)


def _why_empty(state: LedgerState | None) -> str:
    if state is None:
        return (
            "The ledger is off (KUSHROUTER_MCP_LEDGER=off), so this server keeps no history: remove that "
            "setting (or give a file path) and restart, and every record looked up from then on is kept."
        )
    problem = ""
    if state.problem:
        problem = f" The ledger can't be written right now ({state.problem}): {_waiting(state)}."
    if not state.exists or not state.key_rows:
        return (
            "The ledger has no records for this API key yet: it keeps what get_generation, get_generations "
            "and the resource look up on this machine (extract_generation_id adds nothing), each key's "
            "records apart from the others'. Look ids up to add them; records made with another key, or "
            f"looked up on another machine, are not here.{problem}"
        )
    return f"This key's {recorded_span(state)}: widen since and until to include them.{problem}"


def _waiting(state: LedgerState) -> str:
    """What becomes of new lookups while the ledger can't be written: they wait, not lost."""
    return f"{state.pending} rows of new lookups wait in memory, to be written once it can be"


def report_heading(report: dict[str, Any], whose: str) -> str:
    """`Usage from … to … (UTC), by day and model, <whose>:`"""
    grouped = f", by {' and '.join(report['group_by'])}" if report["group_by"] else ""
    return f"Usage from {report['since']} to {report['until']} (UTC){grouped}, {whose}:"


def recorded_span(state: LedgerState) -> str:
    """`12 records in the ledger run from … to … (UTC)`: where to look when a period is empty."""
    first, last = (_day(state.first_at), _day(state.last_at))
    return f"{state.key_rows} records in the ledger run from {first} to {last} (UTC)"


def _day(epoch: float | None) -> str:
    return "?" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")
