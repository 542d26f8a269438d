"""The usage ledger at scale: usage_report over a million records, and four processes writing one file.

1. Reports. A ledger of --records synthetic records (default 1,000,000), shaped like the records a
   server keeps: the five usage fields, an `estimated_cost` object as the pricer writes it (rates,
   parts, a semantics note when cache tokens are involved), spread over 91 days (2026-09-01 to
   2026-11-30 UTC), 20 models (one no price list knows) on the 3 endpoints, a few percent not final,
   all made with one key, so a report of that key reads every row. The file is built once through
   the ledger's own writer (`ledger_row` and `SqliteLedgerFile.write`, 50,000 rows a transaction)
   and kept in bench/.cache (git-ignored; a change to ledger/sqlite.py or ledger/rows.py makes a
   new one). Over the whole period, grouped by day, model, endpoint and day+model, each report is
   timed through `Ledger.report` (best of --repeats, a fresh connection each, as a server opens)
   and once as a usage_report tool call to a real server over stdio; goal under 1 s each. Then the
   file's bytes per record (the file and its -wal after a checkpoint, over the rows).
2. Writers. --writers processes (default 4) each queue --writer-records records (default 10,000)
   with their own key through `Ledger.record` and wait for `flush`: the writer thread and its
   transactions, as in a server. They start at once on a new file; afterwards every row must be
   there, each key's sums equal to what it wrote, and no writer saw an error.

Run: python bench/ledger_scale.py [--records N] [--repeats N] [--writers N] [--writer-records N]
The last line is the writers' wall time. bench/ledger.py measures the ledger's price on lookups.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from _common import OURS, StdioServer, server_env
from kushrouter_mcp.ledger.ledger import Ledger
from kushrouter_mcp.ledger.rows import ledger_row
from kushrouter_mcp.ledger.sqlite import SqliteLedgerFile
from kushrouter_mcp.reports.periods import Period
from kushrouter_mcp.sandbox.samples import ALICE_KEY
from kushrouter_mcp.settings.keys import ApiKey

BENCH = Path(__file__).resolve().parent
LEDGER_CODE = BENCH.parent / "server" / "kushrouter_mcp" / "ledger"
GENERATOR_VERSION = "2"  # change when the synthetic records change, so cached files are remade
GOAL_MS = 1000.0
WRITE_ROWS = 50_000  # rows per transaction while building the file
START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 91
PERIOD = Period(START, START + timedelta(days=DAYS))
GROUP_BYS: tuple[tuple[str, ...], ...] = (("day",), ("model",), ("endpoint",), ("day", "model"))
LIMIT = 100  # usage_report's default
SOURCE = "genai-prices 0.2.3 bundled data"


@dataclass(frozen=True)
class Model:
    """A model as records name it, its endpoint, and its list rates per million tokens."""

    name: str
    endpoint: str
    provider: str
    priced_as: str | None  # None: no price list knows it
    rates: tuple[float, float, float, float]  # input, cache read, cache write, output
    weight: int  # how often it is used, relative to the others


CHAT, RESPONSES, MESSAGES = "openai.chat.completions", "openai.responses", "anthropic.messages"
MODELS = (
    Model("gpt-5-mini-2025-08-07", CHAT, "openai", "gpt-5-mini", (0.25, 0.025, 0.25, 2.0), 60),
    Model("gpt-5-2025-08-07", RESPONSES, "openai", "gpt-5", (1.25, 0.125, 1.25, 10.0), 40),
    Model(
        "claude-sonnet-4-5-20250929", MESSAGES, "anthropic", "claude-sonnet-4-5", (3.0, 0.3, 3.75, 15.0), 50
    ),
    Model("gpt-5-nano-2025-08-07", CHAT, "openai", "gpt-5-nano", (0.05, 0.005, 0.05, 0.4), 30),
    Model("claude-haiku-4-5-20251001", MESSAGES, "anthropic", "claude-haiku-4-5", (1.0, 0.1, 1.25, 5.0), 30),
    Model("gpt-4.1-mini-2025-04-14", CHAT, "openai", "gpt-4.1-mini", (0.4, 0.1, 0.4, 1.6), 20),
    Model("gpt-4.1-2025-04-14", RESPONSES, "openai", "gpt-4.1", (2.0, 0.5, 2.0, 8.0), 15),
    Model("gpt-4o-mini-2024-07-18", CHAT, "openai", "gpt-4o-mini", (0.15, 0.075, 0.15, 0.6), 15),
    Model("o4-mini-2025-04-16", RESPONSES, "openai", "o4-mini", (1.1, 0.275, 1.1, 4.4), 10),
    Model("claude-opus-4-1-20250805", MESSAGES, "anthropic", "claude-opus-4-1", (15.0, 1.5, 18.75, 75.0), 8),
    Model("gpt-4o-2024-11-20", CHAT, "openai", "gpt-4o", (2.5, 1.25, 2.5, 10.0), 8),
    Model("o3-2025-04-16", RESPONSES, "openai", "o3", (2.0, 0.5, 2.0, 8.0), 6),
    Model("claude-3-5-haiku-20241022", MESSAGES, "anthropic", "claude-3-5-haiku", (0.8, 0.08, 1.0, 4.0), 6),
    Model("gpt-5-codex", RESPONSES, "openai", "gpt-5-codex", (1.25, 0.125, 1.25, 10.0), 5),
    Model("claude-sonnet-4-20250514", MESSAGES, "anthropic", "claude-sonnet-4", (3.0, 0.3, 3.75, 15.0), 5),
    Model("gpt-4.1-nano-2025-04-14", CHAT, "openai", "gpt-4.1-nano", (0.1, 0.025, 0.1, 0.4), 4),
    Model("o3-mini-2025-01-31", CHAT, "openai", "o3-mini", (1.1, 0.55, 1.1, 4.4), 3),
    Model("claude-opus-4-20250514", MESSAGES, "anthropic", "claude-opus-4", (15.0, 1.5, 18.75, 75.0), 2),
    Model("gpt-5-chat-latest", CHAT, "openai", "gpt-5-chat-latest", (1.25, 0.125, 1.25, 10.0), 2),
    Model("kush-support-ft-7b", CHAT, "kushrouter", None, (0.0, 0.0, 0.0, 0.0), 3),
)
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


# --- synthetic records -----------------------------------------------------------------------------


def estimate(model: Model, usage: dict[str, int]) -> dict[str, Any]:
    """The estimated_cost object the pricer would attach (same fields, realistic figures and notes)."""
    if model.priced_as is None:
        return {
            "currency": "USD",
            **dict.fromkeys(("total", "input", "cache_read", "cache_write", "output")),
            "model_priced": None,
            "provider": None,
            "source": SOURCE,
            "rates_per_mtok": None,
            "note": f"Not priced: no price list in {SOURCE} knows the model {model.name!r}; add it to a "
            "prices file (KUSHROUTER_MCP_PRICES) to price it.",
        }
    prompt, read, write = (
        usage[name] for name in ("prompt_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    )
    uncached = prompt if model.endpoint == MESSAGES else prompt - read - write
    rates = model.rates
    parts = [
        round(tokens * rate / 1e6, 12)
        for tokens, rate in zip((uncached, read, write, usage["completion_tokens"]), rates, strict=True)
    ]
    note = None
    if read or write:
        if model.endpoint == MESSAGES:
            note = (
                f"anthropic.messages semantics: prompt_tokens ({prompt:,}) excludes cache reads "
                f"({read:,}) and writes ({write:,}); billed input {prompt + read + write:,}, each part "
                "at its own rate."
            )
        else:
            note = (
                f"{model.endpoint} semantics: prompt_tokens ({prompt:,}) includes cache reads ({read:,}); "
                f"uncached input {uncached:,}, each part at its own rate."
            )
    return {
        "currency": "USD",
        "total": round(sum(parts), 12),
        "input": parts[0],
        "cache_read": parts[1],
        "cache_write": parts[2],
        "output": parts[3],
        "model_priced": model.priced_as,
        "provider": model.provider,
        "source": SOURCE,
        "rates_per_mtok": dict(zip(("input", "cache_read", "cache_write", "output"), rates, strict=True)),
        "note": note,
    }


def generation_id(endpoint: str, created_at: int, chance: random.Random) -> str:
    if endpoint == CHAT:
        return f"chatcmpl-{created_at}-{''.join(chance.choices(ALPHABET, k=6))}"
    if endpoint == RESPONSES:
        return f"resp_{chance.getrandbits(200):050x}"
    return f"msg_01{''.join(chance.choices(ALPHABET, k=22))}"


def usage_of(model: Model, chance: random.Random) -> dict[str, int]:
    prompt = int(chance.lognormvariate(7, 1.2))
    completion = int(chance.lognormvariate(5.5, 1.1))
    cached = chance.random() < 0.4
    read = int(prompt * chance.uniform(0.3, 0.9)) if cached else 0
    write = int(chance.lognormvariate(6.5, 1)) if cached and model.endpoint == MESSAGES else 0
    if model.endpoint == MESSAGES:  # Anthropic's input excludes cached tokens; the record keeps them apart
        prompt = max(prompt - read, 1)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
    }


def synthetic_records(count: int, seed: str, api_key_id: str) -> Iterator[tuple[dict[str, Any], float]]:
    """`count` records in time order over the period, each with when a server first saw it."""
    chance = random.Random(seed)
    weights = [model.weight for model in MODELS]
    step = DAYS * 86400 / count
    start = START.timestamp()
    for n in range(count):
        model = chance.choices(MODELS, weights)[0]
        created_at = int(start + (n + chance.random()) * step)
        record: dict[str, Any] = {
            "id": generation_id(model.endpoint, created_at, chance),
            "endpoint": model.endpoint,
            "stream": chance.random() < 0.7,
            "model": model.name,
            "created_at": created_at,
            "apiKeyId": api_key_id,
            "usage": usage_of(model, chance),
            "finish_reason": chance.choices(["stop", "end_turn", "tool_calls", "length"], [50, 30, 15, 5])[0],
        }
        if model.endpoint == RESPONSES:
            record["status"] = "completed" if chance.random() < 0.97 else "requires_action"
        record["estimated_cost"] = estimate(model, record["usage"])
        yield record, created_at + chance.uniform(5, 3 * 86400)  # looked up minutes to days later


@dataclass
class Expected:
    """Sums computed from the generated records: what every report must add up to."""

    generations: int = 0
    total_tokens: int = 0
    cost: float = 0.0
    groups: dict[str, int] = field(default_factory=dict)  # rows per grouping, "day+model" and such

    def add(self, record: dict[str, Any]) -> None:
        self.generations += 1
        self.total_tokens += record["usage"]["total_tokens"]
        self.cost += record["estimated_cost"]["total"] or 0.0


# --- 1. reports over a million records -------------------------------------------------------------


def cached_ledger(records: int, cache_dir: Path) -> tuple[Path, Expected]:
    """The ledger of `records` synthetic records, built once per generator and ledger code."""
    code = "".join(path.read_text() for path in sorted(LEDGER_CODE.glob("*.py")))
    digest = hashlib.sha256(f"{GENERATOR_VERSION}\n{code}".encode()).hexdigest()[:12]
    path = cache_dir / f"ledger-{records}-{digest}.sqlite3"
    sums = path.with_suffix(".json")  # written last: a file without it was never finished
    if path.exists() and sums.exists():
        print(f"ledger of {records:,} records: {path} (cached)")
        return path, Expected(**json.loads(sums.read_text()))
    cache_dir.mkdir(parents=True, exist_ok=True)
    for stale in cache_dir.glob("ledger-*"):  # this size half built, or any size from older code
        if not stale.name.endswith(f"-{digest}.json") and not stale.name.endswith(f"-{digest}.sqlite3"):
            stale.unlink()
    started = time.perf_counter()
    expected = build_ledger(path, records)
    sums.write_text(json.dumps(expected.__dict__))
    print(f"ledger of {records:,} records: built in {time.perf_counter() - started:.1f} s, {path}")
    return path, expected


def build_ledger(path: Path, records: int) -> Expected:
    """Write the records through the ledger's own row maker and writer, in big transactions."""
    building = path.with_name(path.name + ".building")
    ledger_file = SqliteLedgerFile.for_writing(building)
    expected = Expected()
    keys: dict[str, set[tuple[Any, ...]]] = {"+".join(group_by): set() for group_by in GROUP_BYS}
    try:
        identity = ledger_file.writer_identity(ApiKey(ALICE_KEY))
        rows: list[tuple[Any, ...]] = []
        for record, seen_at in synthetic_records(records, "ledger-bench", "ak_bench"):
            expected.add(record)
            values = {"day": record["created_at"] // 86400, **record}
            for name, seen in keys.items():
                seen.add(tuple(values[part] for part in name.split("+")))
            rows.append(ledger_row(identity, record, seen_at))
            if len(rows) == WRITE_ROWS:
                ledger_file.write(rows)
                rows = []
        ledger_file.write(rows)
    finally:
        ledger_file.close()  # the last connection: SQLite checkpoints the WAL into the file
    building.rename(path)
    expected.groups = {name: len(seen) for name, seen in keys.items()}
    return expected


def time_reports(ledger: Ledger, repeats: int, expected: Expected) -> dict[tuple[str, ...], list[float]]:
    """Each grouping's report through Ledger.report, `repeats` times, checked against the sums."""
    key = ApiKey(ALICE_KEY)
    ledger.report(key, PERIOD, (), LIMIT)  # opens the file or the pool, as a server's first report does
    times: dict[tuple[str, ...], list[float]] = {group_by: [] for group_by in GROUP_BYS}
    for _ in range(repeats):
        for group_by in GROUP_BYS:
            started = time.perf_counter()
            report, _state = ledger.report(key, PERIOD, group_by, LIMIT)
            times[group_by].append(time.perf_counter() - started)
            check_report(report, group_by, expected)
    return times


# The same days cut at noon at both ends: whole days from daily_sums, the two half days from the rows.
CUT_PERIOD = Period(START + timedelta(hours=12), START + timedelta(days=DAYS, hours=-12))
CUT_GROUP_BY = ("day", "model")


def time_cut_reports(ledger: Ledger, repeats: int, expected: Expected) -> list[float]:
    """The report over CUT_PERIOD by day and model, `repeats` times: fewer rows than the whole
    period's, every day still there (the tests check its sums against the rows')."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        report, _state = ledger.report(ApiKey(ALICE_KEY), CUT_PERIOD, CUT_GROUP_BY, LIMIT)
        times.append(time.perf_counter() - started)
        assert 0 < report["totals"]["generations"] < expected.generations, report["totals"]
        assert {row["day"] for row in report["rows"]} or report["more_rows"]
    return times


def cut_line(label: str, times: list[float]) -> str:
    return within(
        f"{label} by day+model, period cut at noon at both ends (best of {len(times)})",
        min(times) * 1000,
        GOAL_MS,
    )


def check_report(report: dict[str, Any], group_by: tuple[str, ...], expected: Expected) -> None:
    totals = report["totals"]
    assert totals["generations"] == expected.generations, (totals, expected)
    assert totals["total_tokens"] == expected.total_tokens, (totals, expected)
    assert abs(totals["estimated_cost_usd"] - expected.cost) < 1e-6 * max(expected.cost, 1), (
        totals,
        expected,
    )
    rows = len(report["rows"]) + report["more_rows"]
    if group_by:  # (the writers' check asks for totals alone)
        assert rows == expected.groups["+".join(group_by)], (group_by, rows, expected.groups)


def time_tool_calls(ledger_setting: str, expected: Expected) -> dict[tuple[str, ...], float]:
    """Each grouping once as a usage_report call to a server over stdio (after one warm-up call that
    pays the imports and opens the file or the pool), its ledger KUSHROUTER_MCP_LEDGER=ledger_setting."""
    env = {**server_env(api_key=ALICE_KEY), "KUSHROUTER_MCP_LEDGER": ledger_setting}
    since, until = (moment.isoformat() for moment in (PERIOD.since, PERIOD.until))
    times: dict[tuple[str, ...], float] = {}
    with StdioServer(OURS, env) as server:
        server.initialize()
        server.call_tool("usage_report", {"since": since, "until": START.date().isoformat()})
        for group_by in GROUP_BYS:
            arguments = {"since": since, "until": until, "group_by": list(group_by)}
            seconds, result = server.timed_call("usage_report", arguments)
            check_report(result["structuredContent"], group_by, expected)
            times[group_by] = seconds
    return times


def bytes_on_disk(path: Path) -> int:
    """The file and its -wal after a checkpoint (what the ledger takes on disk)."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def within(label: str, milliseconds: float, goal: float) -> str:
    outcome = "met" if milliseconds < goal else f"missed by {(milliseconds / goal - 1) * 100:.0f}%"
    return f"{label}: {milliseconds:.1f} ms (goal < {goal:.0f} ms, {outcome})"


def print_report_runs(api: dict[tuple[str, ...], list[float]], tool: dict[tuple[str, ...], float]) -> None:
    """Each grouping's report times: every run of Ledger.report, and the tool call."""
    for group_by in GROUP_BYS:
        each = ", ".join(f"{t * 1000:.0f}" for t in api[group_by])
        print(
            f"  by {'+'.join(group_by):<9}: Ledger.report best {min(api[group_by]) * 1000:.1f} ms "
            f"(runs: {each}), tool call {tool[group_by] * 1000:.1f} ms"
        )


def print_report_verdicts(
    backend: str,
    records: int,
    repeats: int,
    api: dict[tuple[str, ...], list[float]],
    tool: dict[tuple[str, ...], float],
) -> None:
    """Each grouping's best Ledger.report and its tool call against the goal; `backend` prefixes the
    lines ("" for the file, "postgresql ")."""
    for group_by in GROUP_BYS:
        name = "+".join(group_by)
        best = min(api[group_by]) * 1000
        label = f"{backend}Ledger.report by {name}, {records:,} records (best of {repeats})"
        print(within(label, best, GOAL_MS))
        call = tool[group_by] * 1000
        print(within(f"{backend}usage_report tool call by {name}, {records:,} records", call, GOAL_MS))


def reports(records: int, repeats: int, cache_dir: Path) -> None:
    path, expected = cached_ledger(records, cache_dir)
    api = time_reports(Ledger(path), repeats, expected)
    cut = time_cut_reports(Ledger(path), repeats, expected)
    tool = time_tool_calls(str(path), expected)
    size = bytes_on_disk(path)
    shape = (
        f"{records:,} records of one key, {DAYS} days, {expected.groups['model']} models, "
        f"{expected.groups['endpoint']} endpoints"
    )
    print(f"usage_report over {shape}:")
    print_report_runs(api, tool)
    print_report_verdicts("", records, repeats, api, tool)
    print(cut_line(f"Ledger.report, {records:,} records", cut))
    print(
        f"bytes per record on disk: {size / records:.0f} B (no goal: {size / 2**20:.1f} MiB with -wal "
        f"after a checkpoint, {records:,} rows)"
    )


# --- 2. several processes writing one file ---------------------------------------------------------


def writer_key(writer: int) -> ApiKey:
    return ApiKey(f"kr_bench_writer_{writer}_5d1c9e")


def writer_records(writer: int, count: int) -> list[dict[str, Any]]:
    return [record for record, _ in synthetic_records(count, f"writer-{writer}", f"ak_bench_writer_{writer}")]


def write_as_process(path: str, writer: int, count: int, start: Barrier, results: Any) -> None:
    """One writer process: build its records, wait for the others, queue them all, wait for the file."""
    records = writer_records(writer, count)
    key = writer_key(writer)
    ledger = Ledger(Path(path))
    start.wait()
    started = time.perf_counter()
    for record in records:
        ledger.record(key, record)
    flushed = ledger.flush(timeout=600)
    seconds = time.perf_counter() - started
    problem, dropped = ledger.problem, ledger.dropped
    ledger.close()  # a multiprocessing child skips atexit: close by hand
    results.put((writer, seconds, flushed, problem, dropped))


def concurrent_writers(writers: int, count: int) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(writers + 1)
    results = context.Queue()
    with tempfile.TemporaryDirectory(prefix="ledger-writers-") as directory:
        path = Path(directory) / "ledger.sqlite3"  # new: the writers race to create it too
        processes = [
            context.Process(target=write_as_process, args=(str(path), n, count, start, results))
            for n in range(writers)
        ]
        for process in processes:
            process.start()
        start.wait()
        started = time.perf_counter()
        outcomes = [results.get(timeout=900) for _ in processes]
        wall = time.perf_counter() - started
        for process in processes:
            process.join()
        check_writers(path, writers, count, outcomes, [process.exitcode for process in processes])
    for writer, seconds, *_ in sorted(outcomes):
        print(f"  writer {writer}: {count:,} records queued and written in {seconds:.2f} s")
    total = writers * count
    print(
        f"{writers} processes x {count} records into one ledger at once: {wall:.2f} s "
        f"(goal all {total} present without error, met)"
    )


def check_writers(
    path: Path, writers: int, count: int, outcomes: list[Any], exit_codes: list[int | None]
) -> None:
    """Every row there, each key's sums what it wrote, no writer saw an error: or the bench fails."""
    assert exit_codes == [0] * writers, exit_codes
    for writer, _seconds, flushed, problem, dropped in outcomes:
        assert (flushed, problem, dropped) == (True, None, 0), f"writer {writer}"
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]
    assert rows == writers * count, f"{rows} rows in the ledger, {writers * count} written"
    ledger = Ledger(path)
    for writer in range(writers):
        expected = Expected()
        for record in writer_records(writer, count):
            expected.add(record)
        report, _state = ledger.report(writer_key(writer), PERIOD, (), LIMIT)
        check_report(report, (), expected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000, help="records in the report's ledger")
    parser.add_argument("--repeats", type=int, default=3, help="Ledger.report runs per grouping (best kept)")
    parser.add_argument("--writers", type=int, default=4, help="writer processes (default 4)")
    parser.add_argument("--writer-records", type=int, default=10_000, help="records per writer")
    parser.add_argument(
        "--cache-dir", type=Path, default=BENCH / ".cache", help="where built ledgers are kept"
    )
    args = parser.parse_args()
    reports(args.records, args.repeats, args.cache_dir)
    concurrent_writers(args.writers, args.writer_records)


if __name__ == "__main__":
    main()
