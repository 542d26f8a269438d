"""`kushrouter-mcp report` as a user runs it: a real process reading a ledger that real servers wrote.

The ledger is filled by stdio servers (one per key) looking up records this module publishes on the
sandbox with chosen times, models, endpoints and usage. Every expected sum is computed here from
those records (costs from genai-prices' per-token prices, costs_helpers); the usage_report tool's
own answer is only compared with the command's JSON, which must be the same.
"""

from __future__ import annotations

import csv
import hashlib
import html.parser
import io
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

from conftest import server_env, stdio_server
from costs_helpers import CLOSE, amounts, record_prices
from kushrouter_mcp.face.dashboard import DATA_SLOT, PAGE
from kushrouter_mcp.records.models import USAGE_FIELDS
from kushrouter_mcp.reports.report import SUM_FIELDS
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, BOB_KEY, RESPONSES_ACTION_ID, UNPRICED_MODEL

NOWHERE = "http://127.0.0.1:9"  # the upstream of runs that must not look anything up
ISO_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
FIXED_DECIMAL = re.compile(r"\d+(\.\d+)?")
CHAT, RESPONSES, MESSAGES = "openai.chat.completions", "openai.responses", "anthropic.messages"
MINI, GPT5, SONNET = "gpt-5-mini-2025-08-07", "gpt-5-2025-08-07", "claude-sonnet-4-5-20250929"
DAY = 86400
HOUR = 3600
# Three UTC days ending yesterday: every record of the period was made in the past.
FIRST_DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
START = int(FIRST_DAY.timestamp())
SINCE = FIRST_DAY.date().isoformat()
UNTIL = (FIRST_DAY + timedelta(days=2)).date().isoformat()  # a date alone: through the end of that day
PERIOD = ("--since", SINCE, "--until", UNTIL)


def usage(prompt: int, completion: int, cache_read: int = 0, cache_write: int = 0) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
    }


def generation(
    gen_id: str, at: int, model: str, endpoint: str, tokens: dict[str, int], **more: Any
) -> dict[str, Any]:
    """The fields a test publishes for one record (the sandbox adds apiKeyId, stream, finish_reason)."""
    return {"id": gen_id, "created_at": at, "model": model, "endpoint": endpoint, "usage": tokens, **more}


ALICE = [
    generation("chatcmpl-report-a1", START + 1 * HOUR, MINI, CHAT, usage(1200, 300)),
    generation("chatcmpl-report-a2", START + 5 * HOUR, MINI, CHAT, usage(800, 150, cache_read=400)),
    # So small that Python writes its cost 2.5e-07: the CSV must not.
    generation(
        "resp_report_a3", START + DAY + 2 * HOUR, GPT5, RESPONSES, usage(5000, 700, 2048), status="completed"
    ),
    generation("msg_report_a4", START + DAY + 3 * HOUR, SONNET, MESSAGES, usage(300, 900, 1024, 512)),
    generation("chatcmpl-report-a5", START + 2 * DAY + HOUR, UNPRICED_MODEL, CHAT, usage(640, 64)),
    generation(
        "resp_report_a6", START + 2 * DAY + 4 * HOUR, GPT5, RESPONSES, usage(90, 10), status="in_progress"
    ),
    # Alone in its group and so small that Python writes its cost 2.5e-07: the CSV must not.
    generation("chatcmpl-report-tiny", START + 2 * DAY + 5 * HOUR, MINI, CHAT, usage(1, 0)),
]
TINY = ALICE[-1]
ALICE_BEFORE = generation(
    "chatcmpl-report-old", START - 2 * DAY, MINI, CHAT, usage(7, 7)
)  # outside the period
BOB = [
    generation("chatcmpl-report-b1", START + 2 * HOUR, MINI, CHAT, usage(4000, 1000)),
    generation("msg_report_b2", START + 2 * DAY + 2 * HOUR, SONNET, MESSAGES, usage(100, 200)),
]
KEYS = {"alice": ALICE_KEY, "bob": BOB_KEY}


# --- Expected figures, from the records above -----------------------------------------------------


def day_of(record: dict[str, Any]) -> str:
    return datetime.fromtimestamp(record["created_at"], UTC).date().isoformat()


def cost_of(record: dict[str, Any]) -> Decimal | None:
    if record["model"] == UNPRICED_MODEL:
        return None
    return amounts(record["endpoint"], record["usage"], record_prices(record))["total"]


def expected_groups(
    records: Iterable[dict[str, Any]], group_by: Iterable[str]
) -> dict[tuple[str, ...], dict[str, Any]]:
    """Each group's sums: counts, tokens, the priced costs' sum (None when none is priced)."""
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for record in records:
        values = {"day": day_of(record), "model": record["model"], "endpoint": record["endpoint"]}
        sums = groups.setdefault(
            tuple(values[name] for name in group_by),
            {"generations": 0, **dict.fromkeys(USAGE_FIELDS, 0), "cost": None, "unpriced": 0, "not_final": 0},
        )
        sums["generations"] += 1
        for name in USAGE_FIELDS:
            sums[name] += record["usage"][name]
        cost = cost_of(record)
        if cost is None:
            sums["unpriced"] += 1
        else:
            sums["cost"] = (sums["cost"] or Decimal(0)) + cost
        sums["not_final"] += record.get("status") not in (None, "completed")
    return groups


def assert_sums(row: dict[str, Any], expected: dict[str, Any]) -> None:
    """A report row (values as JSON numbers, or CSV text) has the expected sums."""
    for name in ("generations", *USAGE_FIELDS, "unpriced", "not_final"):
        assert int(row[name]) == expected[name], (name, row, expected)
    cost = row["estimated_cost_usd"]
    if expected["cost"] is None:
        assert cost in (None, ""), row
    else:
        assert abs(Decimal(str(cost)) - expected["cost"]) <= Decimal(CLOSE * 10), (row, expected["cost"])


# --- Running things -------------------------------------------------------------------------------


def run_report(
    *args: str, ledger: Path | str, key: str | None = ALICE_KEY, base_url: str = NOWHERE, **env: str
) -> subprocess.CompletedProcess[str]:
    """`kushrouter-mcp report ARGS` as a process, with the key in its environment; no key ever shows."""
    done = subprocess.run(
        [sys.executable, "-m", "kushrouter_mcp", "report", *args],
        env=server_env(base_url, key, KUSHROUTER_MCP_LEDGER=str(ledger), **env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    for secret in KEYS.values():
        assert secret not in done.stdout and secret not in done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


def ok(done: subprocess.CompletedProcess[str], ledger: Path | str) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stderr
    said = done.stderr.splitlines()
    assert said.count(f"kushrouter-mcp: ledger: {ledger}") == 1, said
    assert str(ledger) not in done.stdout, "the ledger's path is said on stderr, not in the data"
    return done


def csv_rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    table = list(csv.reader(io.StringIO(text)))
    header, rows = table[0], table[1:]
    assert all(len(row) == len(header) for row in rows), "one value per cell, every row"
    return header, [dict(zip(header, row, strict=True)) for row in rows]


async def look_up(
    sandbox: RunningSandbox, ledger: Path, owner: str, records: list[dict[str, Any]], log: Path
) -> dict[str, Any]:
    """Publish `records` for `owner`, look them up through a stdio server writing `ledger`, and
    return that server's usage_report over the period (by day and model)."""
    for record in records:
        sandbox.state.publish(record["id"], owner=owner, **{k: v for k, v in record.items() if k != "id"})
    with log.open("w") as errlog:
        async with stdio_server(
            sandbox, errlog, api_key=KEYS[owner], KUSHROUTER_MCP_LEDGER=str(ledger)
        ) as client:
            batch = await client.call_tool("get_generations", {"ids": [record["id"] for record in records]})
            assert batch.structured_content["counts"]["found"] == len(records), batch
            report = await client.call_tool(
                "usage_report", {"since": SINCE, "until": UNTIL, "group_by": ["day", "model"], "limit": 100}
            )
    assert not report.is_error, report
    return report.structured_content


async def look_up_seeded(sandbox: RunningSandbox, ledger: Path, gen_id: str, log: Path) -> None:
    """Look up one of the sandbox's seeded records (Alice's) through a stdio server writing `ledger`."""
    with log.open("w") as errlog:
        async with stdio_server(sandbox, errlog, KUSHROUTER_MCP_LEDGER=str(ledger)) as client:
            assert not (await client.call_tool("get_generation", {"id": gen_id})).is_error


@dataclass(frozen=True)
class Filled:
    ledger: Path
    alice_tool_report: dict[str, Any]


@pytest.fixture(scope="module")
def filled(sandbox_session: RunningSandbox, tmp_path_factory: pytest.TempPathFactory) -> Filled:
    """One ledger holding Alice's and Bob's records, written by a server for each."""
    folder = tmp_path_factory.mktemp("report-ledger")
    ledger = folder / "ledger.sqlite3"
    alice = anyio.run(look_up, sandbox_session, ledger, "alice", [*ALICE, ALICE_BEFORE], folder / "alice.log")
    anyio.run(look_up, sandbox_session, ledger, "bob", BOB, folder / "bob.log")
    sandbox_session.state.reset()
    return Filled(ledger, alice)


def identity_of(key: str, ledger: Path) -> str:
    """The key's short identity as the ledger's secret makes it (keyed BLAKE2b), read off the file."""
    with sqlite3.connect(ledger) as db:
        (secret,) = db.execute("SELECT value FROM ledger_meta WHERE name = 'identity_secret'").fetchone()
    return hashlib.blake2b(key.encode(), key=bytes(secret), digest_size=16).hexdigest()[:12]


# --- The report, in each format -------------------------------------------------------------------


def test_csv_sums_match_the_records_and_a_spreadsheet_can_read_every_cell(filled: Filled) -> None:
    done = ok(run_report(*PERIOD, "--format", "csv", ledger=filled.ledger), filled.ledger)
    header, rows = csv_rows(done.stdout)
    assert header == ["day", "model", *SUM_FIELDS]
    expected = expected_groups(ALICE, ("day", "model"))
    assert {(row["day"], row["model"]) for row in rows} == set(expected), "Alice's groups of the period only"
    for row in rows:
        assert_sums(row, expected[row["day"], row["model"]])
        cost = row["estimated_cost_usd"]
        assert cost == "" or FIXED_DECIMAL.fullmatch(cost), f"not a plain decimal: {cost!r}"
    assert [row["day"] for row in rows] == sorted(row["day"] for row in rows), "by day"
    (tiny,) = [row for row in rows if (row["day"], row["model"]) == (day_of(TINY), MINI)]
    assert "e" in repr(float(tiny["estimated_cost_usd"])), "a cost Python itself writes with an exponent"


def test_json_is_the_tools_structured_report(filled: Filled) -> None:
    done = ok(
        run_report(*PERIOD, "--by", "day,model", "--limit", "100", "--format", "json", ledger=filled.ledger),
        filled.ledger,
    )
    report = json.loads(done.stdout)
    assert report == filled.alice_tool_report
    assert report["ledger"] == "on" and report["group_by"] == ["day", "model"]
    expected = expected_groups(ALICE, ("day", "model"))
    assert len(report["rows"]) == len(expected)
    for row in report["rows"]:
        assert_sums(row, expected[row["day"], row["model"]])
    (everything,) = expected_groups(ALICE, ()).values()
    assert_sums(report["totals"], everything)


def test_jsonl_is_one_row_per_line_grouped_as_asked(filled: Filled) -> None:
    done = ok(
        run_report(*PERIOD, "--by", "endpoint", "--format", "jsonl", ledger=filled.ledger), filled.ledger
    )
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    expected = expected_groups(ALICE, ("endpoint",))
    assert sorted(row["endpoint"] for row in rows) == sorted(endpoint for (endpoint,) in expected)
    for row in rows:
        assert_sums(row, expected[(row["endpoint"],)])


def test_the_table_has_the_period_a_line_per_group_and_the_total(filled: Filled) -> None:
    done = ok(run_report(*PERIOD, "--by", "model", ledger=filled.ledger), filled.ledger)
    heading, *lines = done.stdout.splitlines()
    assert heading.startswith(f"Usage from {SINCE}T00:00:00Z to ") and "by model" in heading
    expected = expected_groups(ALICE, ("model",))
    for (model,), sums in expected.items():
        (line,) = [line for line in lines if line.startswith(model + " ")]
        assert line.split()[1:3] == [f"{sums['generations']:,}", f"{sums['prompt_tokens']:,}"], line
    total = lines[-1].split()
    (everything,) = expected_groups(ALICE, ()).values()
    assert total[0] == "total"
    assert total[1:6] == [
        f"{everything[name]:,}"
        for name in (
            "generations",
            "prompt_tokens",
            "completion_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        )
    ]
    assert "1 record was not final" in done.stderr and "not priced" in done.stderr


# --- One row per generation -----------------------------------------------------------------------


def test_records_csv_has_one_row_per_generation_with_iso_times_and_plain_costs(filled: Filled) -> None:
    done = ok(run_report(*PERIOD, "--records", "--format", "csv", ledger=filled.ledger), filled.ledger)
    header, rows = csv_rows(done.stdout)
    assert "key_identity" not in header
    assert header[:10] == [
        "id",
        "created_at",
        "first_seen",
        "last_seen",
        "model",
        "endpoint",
        "stream",
        "finish_reason",
        "status",
        "final",
    ]
    made = {record["id"]: record for record in ALICE}
    assert [row["id"] for row in rows] == [
        record["id"] for record in sorted(ALICE, key=lambda r: (r["created_at"], r["id"]))
    ]
    for row in rows:
        record = made[row["id"]]
        for name in ("created_at", "first_seen", "last_seen"):
            assert ISO_SECONDS.fullmatch(row[name]), (name, row[name])
        assert datetime.fromisoformat(row["created_at"]).timestamp() == record["created_at"]
        assert (row["model"], row["endpoint"], row["stream"]) == (record["model"], record["endpoint"], "true")
        assert row["status"] == record.get("status", "")
        assert row["final"] == ("false" if record.get("status") == "in_progress" else "true")
        assert {name: int(row[name]) for name in USAGE_FIELDS} == record["usage"]
        assert row["apiKeyId"] == "ak_sandbox_alice"
        cost = cost_of(record)
        if cost is None:
            assert row["estimated_cost_usd"] == "" and row["cost_input"] == "" and row["cost_output"] == ""
            continue
        parts = amounts(record["endpoint"], record["usage"], record_prices(record))
        for name in ("input", "cache_read", "cache_write", "output"):
            cell = row[f"cost_{name}"]
            assert FIXED_DECIMAL.fullmatch(cell) and abs(Decimal(cell) - parts[name]) <= Decimal(CLOSE), (
                name,
                cell,
            )
        assert FIXED_DECIMAL.fullmatch(row["estimated_cost_usd"]), row["estimated_cost_usd"]
        assert abs(Decimal(row["estimated_cost_usd"]) - cost) <= Decimal(CLOSE)
        assert row["cost_source"].startswith("genai-prices")


def test_records_in_json_jsonl_and_table_list_the_same_generations(filled: Filled) -> None:
    ids = [record["id"] for record in sorted(ALICE, key=lambda r: (r["created_at"], r["id"]))]
    as_json = json.loads(
        ok(run_report(*PERIOD, "--records", "--format", "json", ledger=filled.ledger), filled.ledger).stdout
    )
    assert [row["id"] for row in as_json["records"]] == ids
    assert as_json["since"] == f"{SINCE}T00:00:00Z" and as_json["ledger"] == "on"
    lines = ok(
        run_report(*PERIOD, "--records", "--format", "jsonl", ledger=filled.ledger), filled.ledger
    ).stdout
    assert [json.loads(line) for line in lines.splitlines()] == as_json["records"]
    table = ok(run_report(*PERIOD, "--records", ledger=filled.ledger), filled.ledger).stdout.splitlines()
    assert len(table) == 2 + len(ids)  # the period, the header, a line each
    assert [line.split()[2] for line in table[2:]] == ids  # after the day and the time
    limited = ok(
        run_report(*PERIOD, "--records", "--format", "jsonl", "--limit", "2", ledger=filled.ledger),
        filled.ledger,
    )
    assert [json.loads(line)["id"] for line in limited.stdout.splitlines()] == ids[:2]
    assert f"{len(ids) - 2} more records not shown" in limited.stderr


# --- Whose rows -----------------------------------------------------------------------------------


def test_all_keys_shows_both_keys_rows_told_apart_by_identity_and_the_key_only_its_own(
    filled: Filled,
) -> None:
    alice, bob = identity_of(ALICE_KEY, filled.ledger), identity_of(BOB_KEY, filled.ledger)
    every = ok(
        run_report(*PERIOD, "--records", "--all-keys", "--format", "csv", key=None, ledger=filled.ledger),
        filled.ledger,
    )
    header, rows = csv_rows(every.stdout)
    assert header[0] == "key_identity"
    by_key: dict[str, set[str]] = {}
    for row in rows:
        by_key.setdefault(row["key_identity"], set()).add(row["id"])
    assert by_key == {alice: {r["id"] for r in ALICE}, bob: {r["id"] for r in BOB}}
    as_bob = ok(
        run_report(*PERIOD, "--records", "--format", "csv", key=BOB_KEY, ledger=filled.ledger), filled.ledger
    )
    assert {row["id"] for row in csv_rows(as_bob.stdout)[1]} == {r["id"] for r in BOB}

    grouped = json.loads(
        ok(
            run_report(
                *PERIOD, "--all-keys", "--by", "model", "--format", "json", key=None, ledger=filled.ledger
            ),
            filled.ledger,
        ).stdout
    )
    assert grouped["group_by"] == ["key_identity", "model"]
    expected = {
        (identity, model): sums
        for identity, records in ((alice, ALICE), (bob, BOB))
        for (model,), sums in expected_groups(records, ("model",)).items()
    }
    assert {(row["key_identity"], row["model"]) for row in grouped["rows"]} == set(expected)
    for row in grouped["rows"]:
        assert_sums(row, expected[row["key_identity"], row["model"]])
    (everything,) = expected_groups([*ALICE, *BOB], ()).values()
    assert_sums(grouped["totals"], everything)


# --- --output -------------------------------------------------------------------------------------


def test_output_writes_the_file_whole_and_says_so_on_stderr(filled: Filled, tmp_path: Path) -> None:
    target = tmp_path / "usage.csv"
    target.write_text("an older export\n")
    done = ok(
        run_report(*PERIOD, "--records", "--format", "csv", "--output", str(target), ledger=filled.ledger),
        filled.ledger,
    )
    assert done.stdout == ""
    assert f"kushrouter-mcp: wrote {len(ALICE)} rows to {target}" in done.stderr.splitlines()
    content = target.read_text(encoding="utf-8")
    _, rows = csv_rows(content)
    assert {row["id"] for row in rows} == {r["id"] for r in ALICE}
    assert target.read_bytes().count(b"\r\n") == len(ALICE) + 1, "CSV's own line ends, untranslated"
    assert ALICE_KEY not in content and BOB_KEY not in content
    assert target.stat().st_mode & 0o077 == 0, "owner-only, as the ledger"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["usage.csv"], "no temporary file left"


# --- The HTML report ------------------------------------------------------------------------------


class Scripts(html.parser.HTMLParser):
    """A page's <script> elements as a browser's tokenizer splits them: (attributes, text) each."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._open = dict(attrs)
            self.scripts.append((self._open, ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


def embedded_data(page: str) -> Any:
    """The JSON in the page's one kushrouter-data element, read as a browser would read it."""
    scripts = Scripts(page).scripts
    (text,) = [text for attrs, text in scripts if attrs.get("id") == "kushrouter-data"]
    return json.loads(text)


def without_data(page: str) -> str:
    """The page with its data slot emptied again: the installed page, if nothing else was added."""
    opening = DATA_SLOT.removesuffix("</script>")
    start = page.index(opening) + len(opening)
    return page[:start] + page[page.index("</script>", start) :]


def test_html_embeds_exactly_what_json_writes_in_the_installed_page(filled: Filled) -> None:
    asked = (*PERIOD, "--by", "day,model", "--limit", "100")
    page = ok(run_report(*asked, "--format", "html", ledger=filled.ledger), filled.ledger).stdout
    as_json = json.loads(
        ok(run_report(*asked, "--format", "json", ledger=filled.ledger), filled.ledger).stdout
    )
    assert embedded_data(page) == {"tool": "usage_report", "structuredContent": as_json}
    assert as_json == filled.alice_tool_report, "the tool's own structured content"
    assert without_data(page) == PAGE.read_text(encoding="utf-8"), "stdout holds the page and nothing else"
    assert len(Scripts(page).scripts) == len(Scripts(PAGE.read_text(encoding="utf-8")).scripts)


def test_html_to_output_is_owner_only_whole_and_keyless(filled: Filled, tmp_path: Path) -> None:
    target = tmp_path / "usage.html"
    target.write_text("an older page\n")
    target.chmod(0o644)
    done = ok(
        run_report(*PERIOD, "--all-keys", "--format", "html", "--output", str(target), ledger=filled.ledger),
        filled.ledger,
    )
    assert done.stdout == ""
    content = target.read_text(encoding="utf-8")
    data = embedded_data(content)["structuredContent"]
    assert f"kushrouter-mcp: wrote {len(data['rows'])} rows to {target}" in done.stderr.splitlines()
    identities = {row["key_identity"] for row in data["rows"]}
    assert identities == {identity_of(ALICE_KEY, filled.ledger), identity_of(BOB_KEY, filled.ledger)}
    assert data["totals"]["generations"] == len(ALICE) + len(BOB)
    assert ALICE_KEY not in content and BOB_KEY not in content, "identities, never keys"
    assert target.stat().st_mode & 0o777 == 0o600, "owner-only, as the ledger"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["usage.html"], "no temporary file left"


def test_a_model_named_like_markup_stays_data_in_the_html(sandbox: RunningSandbox, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    hostile = "</script><script>alert(1)</script><!-- & \u2028\u2029"
    record = generation("chatcmpl-report-markup", START + HOUR, hostile, CHAT, usage(10, 1))
    anyio.run(look_up, sandbox, ledger, "alice", [record], tmp_path / "server.log")
    page = ok(run_report(*PERIOD, "--by", "model", "--format", "html", ledger=ledger), ledger).stdout
    (row,) = embedded_data(page)["structuredContent"]["rows"]
    assert row["model"] == hostile, "the name arrives whole, as data"
    assert "alert(1)" not in {text for _, text in Scripts(page).scripts}, "no script of its own"
    assert len(Scripts(page).scripts) == len(Scripts(PAGE.read_text(encoding="utf-8")).scripts)
    (data_text,) = [text for attrs, text in Scripts(page).scripts if attrs.get("id") == "kushrouter-data"]
    for raw in ("<", ">", "&", "\u2028", "\u2029"):
        assert raw not in data_text, f"{raw!r} is written as a JSON escape"


# --- Refresh --------------------------------------------------------------------------------------


def test_refresh_looks_up_again_what_was_not_final_and_the_row_is_updated(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    at = int(datetime.now(UTC).timestamp()) - 2 * HOUR
    running = generation("resp_report_running", at, GPT5, RESPONSES, usage(50, 5), status="in_progress")
    gone = generation("resp_report_gone", at + 60, GPT5, RESPONSES, usage(20, 2), status="in_progress")
    anyio.run(look_up, sandbox, ledger, "alice", [running, gone], tmp_path / "server.log")
    anyio.run(look_up_seeded, sandbox, ledger, RESPONSES_ACTION_ID, tmp_path / "seeded.log")
    window = ("--since", "1d", "--records", "--format", "json")
    before = {
        row["id"]: row for row in json.loads(ok(run_report(*window, ledger=ledger), ledger).stdout)["records"]
    }
    assert before[running["id"]]["final"] is False and before[running["id"]]["status"] == "in_progress"

    sandbox.state.reset()  # the gone one expires upstream; the running one completes, with its final usage
    finished = {**running, "usage": usage(1500, 420, cache_read=1024), "status": "completed"}
    sandbox.state.publish(finished["id"], **{k: v for k, v in finished.items() if k != "id"})
    done = ok(run_report("--refresh", *window, ledger=ledger, base_url=sandbox.base_url), ledger)
    said = done.stderr.splitlines()
    assert f"kushrouter-mcp: refreshed {running['id']}: final now (completed)." in said
    assert any(line.startswith(f"kushrouter-mcp: {gone['id']} was not found any more") for line in said), said
    assert any(
        line.startswith(f"kushrouter-mcp: {RESPONSES_ACTION_ID} is still not final") for line in said
    ), said
    after = {row["id"]: row for row in json.loads(done.stdout)["records"]}
    row = after[running["id"]]
    assert (row["final"], row["status"]) == (True, "completed")
    assert {name: row[name] for name in USAGE_FIELDS} == finished["usage"]
    assert abs(Decimal(str(row["estimated_cost_usd"])) - (cost_of(finished) or Decimal(-1))) <= Decimal(CLOSE)
    assert after[gone["id"]] == before[gone["id"]], "a record gone upstream stays as it was"

    again = ok(run_report(*window, ledger=ledger), ledger)  # kept: a report without --refresh sees it
    assert json.loads(again.stdout)["records"] == json.loads(done.stdout)["records"]
    sandbox.state.add_fault(400, times=2)  # the two still not final fail to look up this time
    failed = ok(run_report("--refresh", *window, ledger=ledger, base_url=sandbox.base_url), ledger)
    assert (
        sum(
            line.startswith("kushrouter-mcp: refreshing ") and " failed: " in line
            for line in failed.stderr.splitlines()
        )
        == 2
    )
    assert json.loads(failed.stdout)["records"] == json.loads(done.stdout)["records"]


# --- Errors and empty ledgers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        ((), {"key": None}, ("KUSHROUTER_API_KEY", "--all-keys")),
        (("--refresh", "--all-keys"), {"key": None}, ("--refresh", "KUSHROUTER_API_KEY")),
        ((), {"KUSHROUTER_MCP_LEDGER": "off"}, ("ledger is off", "KUSHROUTER_MCP_LEDGER")),
        (("--by", "week"), {}, ("--by has 'week'", "day, model, endpoint")),
        (("--by", "day,model,endpoint"), {}, ("--by has 3 groups", "0 to 2")),
        (("--since", "last tuesday"), {}, ("--since 'last tuesday'", '"7d"', "ISO date")),
        (("--since", "2026-03-02", "--until", "2026-03-01"), {}, ("is not before", "--since", "--until")),
        (("--limit", "0"), {}, ("--limit must be a whole number", "10000")),
        (("--limit", "many"), {}, ("--limit must be a whole number",)),
        (("--format", "xlsx"), {}, ("invalid choice: 'xlsx'", "table", "csv", "report --help")),
        (("--records", "--by", "model"), {}, ("--by", "--records")),
        (("--records", "--format", "html"), {}, ("--format html", "--records", "csv, json or jsonl")),
        (("--frobnicate",), {}, ("unrecognized arguments: --frobnicate",)),
    ],
)
def test_a_bad_request_is_one_line_and_exit_2(
    args: tuple[str, ...], env: dict[str, Any], words: tuple[str, ...], tmp_path: Path
) -> None:
    ledger = env.pop("KUSHROUTER_MCP_LEDGER", None) or tmp_path / "ledger.sqlite3"
    done = run_report(*args, ledger=ledger, **env)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("kushrouter-mcp: error: ")
    for word in words:
        assert word in line, (word, line)


def test_an_unwritable_output_or_unreadable_ledger_is_an_error_that_names_the_file(
    filled: Filled, tmp_path: Path
) -> None:
    missing = tmp_path / "no such folder" / "out.csv"
    done = run_report(*PERIOD, "--format", "csv", "--output", str(missing), ledger=filled.ledger)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines()[-1].startswith(f"kushrouter-mcp: error: can't write {missing}")
    assert not missing.parent.exists()
    garbage = tmp_path / "not-a-ledger.sqlite3"
    garbage.write_bytes(b"these are not the pages of an SQLite database" * 100)
    done = run_report(ledger=garbage)
    assert done.returncode == 2 and done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and str(garbage) in errors[0] and "KUSHROUTER_MCP_LEDGER" in errors[0], errors


def test_no_ledger_yet_is_an_empty_report_with_a_note_saying_where_it_looked(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    done = ok(run_report("--format", "csv", ledger=ledger), ledger)
    header, rows = csv_rows(done.stdout)
    assert header == ["day", "model", *SUM_FIELDS] and rows == []
    assert any("no ledger at" in line and str(ledger) in line for line in done.stderr.splitlines())
    assert not ledger.exists(), "reading creates nothing"


def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_kept_as_text(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    formula = '=HYPERLINK("http://127.0.0.1:9/","1")'
    record = generation(
        "chatcmpl-report-formula", START + HOUR, formula, CHAT, usage(10, 1), finish_reason="-1+2"
    )
    anyio.run(look_up, sandbox, ledger, "alice", [record], tmp_path / "server.log")
    _, (row,) = csv_rows(
        ok(run_report(*PERIOD, "--records", "--format", "csv", ledger=ledger), ledger).stdout
    )
    assert (row["model"], row["finish_reason"]) == (f"'{formula}", "'-1+2")
    as_json = json.loads(
        ok(run_report(*PERIOD, "--records", "--format", "jsonl", ledger=ledger), ledger).stdout
    )
    assert (as_json["model"], as_json["finish_reason"]) == (formula, "-1+2"), "only CSV cells are guarded"


def test_help_names_the_command_and_the_tool() -> None:
    top = subprocess.run(
        [sys.executable, "-m", "kushrouter_mcp", "--help"], capture_output=True, text=True, check=True
    )
    assert "kushrouter-mcp report" in top.stdout and "usage_report" in top.stdout
    own = subprocess.run(
        [sys.executable, "-m", "kushrouter_mcp", "report", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for option in (
        "--since",
        "--until",
        "--by",
        "--format",
        "--output",
        "--records",
        "--all-keys",
        "--refresh",
        "--limit",
    ):
        assert option in own.stdout


def test_the_sandbox_keeps_a_published_records_id_and_owner_its_own(sandbox: RunningSandbox) -> None:
    with pytest.raises(ValueError, match="owner"):
        sandbox.state.publish("chatcmpl-report-mine", apiKeyId="ak_sandbox_bob")
    first = sandbox.state.publish("chatcmpl-report-mine", status="in_progress")
    second = sandbox.state.publish("chatcmpl-report-mine", status="completed")
    assert (first["status"], second["status"]) == ("in_progress", "completed")
    assert sandbox.state.published("chatcmpl-report-mine") == second, "published again: replaced"
