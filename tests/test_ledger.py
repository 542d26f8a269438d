"""The ledger against real SQLite files: rows, upserts, times, modes, identities, and every way a file
can be unusable (newer, corrupt, read-only, in a directory that can't be made).

In-process `Ledger` objects for what the file holds; real server processes (stdio) where the claim is
that lookups go on as before.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from conftest import LEAK_CANARY, server_env
from kushrouter_mcp.ledger import Ledger
from kushrouter_mcp.ledger.errors import LedgerError
from kushrouter_mcp.ledger.sql import SCHEMA_VERSION
from kushrouter_mcp.records.models import USAGE_FIELDS
from kushrouter_mcp.reports.periods import Period
from kushrouter_mcp.sandbox.processes import kushrouter_command
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, ANTHROPIC_ID, CHAT_ID, RESPONSES_ID, SEED_RECORDS
from kushrouter_mcp.settings.keys import ApiKey
from ledger_records import Clock, record

TOKEN_FIELDS = USAGE_FIELDS  # the record's five token counts
EVERYTHING = Period(datetime(1970, 1, 2, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
CANNOT_WRITE = "can't be written"
KEY = ApiKey(LEAK_CANARY)
OTHER_KEY = ApiKey("kr_live_other_0a1b2c3d4e5f6a7b8c9d")


def rows(path: Path) -> dict[str, dict[str, Any]]:
    """Every row of the file by id, read by a connection of the test's own (read-only)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        found = {row["id"]: dict(row) for row in db.execute("SELECT * FROM generations")}
    db.close()
    return found


@pytest.fixture
def ledgers() -> Iterator[list[Ledger]]:
    """Ledgers a test makes, closed afterwards (their writer threads stopped)."""
    made: list[Ledger] = []
    yield made
    for ledger in made:
        ledger.close()


def open_ledger(ledgers: list[Ledger], path: Path, clock: Clock | None = None) -> Ledger:
    ledger = Ledger(path, clock or Clock())
    ledgers.append(ledger)
    return ledger


def written(ledger: Ledger, key: ApiKey, *records: dict[str, Any]) -> None:
    for one in records:
        ledger.record(key, one)
    assert ledger.flush(10), "the writer caught up"


def attempted(ledger: Ledger, key: ApiKey, *records: dict[str, Any]) -> None:
    """Queue the records and have the writer try them at once, on a ledger that can't be written."""
    for one in records:
        ledger.record(key, one)
    assert not ledger.flush(10), "the write failed, and flush said so without waiting out its timeout"


# --- Rows ------------------------------------------------------------------------------------------


def test_recorded_rows_land_in_the_file_with_their_fields(tmp_path: Path, ledgers: list[Ledger]) -> None:
    path = tmp_path / "ledger.sqlite3"
    clock = Clock()
    ledger = open_ledger(ledgers, path, clock)
    assert not path.exists(), "nothing is created before the first write"
    sent = [
        record("gen-a"),
        record("gen-b", model="claude-x", endpoint="anthropic.messages", status="in_progress", cost=None),
        {"id": "gen-c"},  # nothing but an id: a row all the same
    ]
    written(ledger, KEY, *sent)
    found = rows(path)
    assert set(found) == {"gen-a", "gen-b", "gen-c"}
    for one in sent:
        row = found[one["id"]]
        assert json.loads(row["record"]) == one
        assert row["model"] == one.get("model") and row["endpoint"] == one.get("endpoint")
        assert row["status"] == one.get("status")
        assert row["final"] == (0 if one.get("status") == "in_progress" else 1)
        usage = one.get("usage", {})
        assert {name: row[name] for name in TOKEN_FIELDS} == {
            name: usage.get(name, 0) for name in TOKEN_FIELDS
        }
        assert row["cost_usd"] == (one.get("estimated_cost") or {}).get("total")
        assert row["first_seen"] == row["last_seen"] == clock.now
    assert ledger.problem is None and ledger.dropped == 0


def test_a_record_seen_again_is_updated_in_place_keeping_when_it_was_first_seen(
    tmp_path: Path, ledgers: list[Ledger]
) -> None:
    path = tmp_path / "ledger.sqlite3"
    clock = Clock(1_800_000_000.0)
    ledger = open_ledger(ledgers, path, clock)
    written(ledger, KEY, record("gen-a", status="in_progress", cost=None))
    clock.now += 3600
    usage = {"prompt_tokens": 500, "completion_tokens": 90, "total_tokens": 590}
    later = record("gen-a", status="completed", cost=0.25, usage=usage, model="gpt-5")
    written(ledger, KEY, later)
    (row,) = rows(path).values()
    assert row["first_seen"] == 1_800_000_000.0 and row["last_seen"] == 1_800_003_600.0
    assert row["status"] == "completed" and row["final"] == 1 and row["model"] == "gpt-5"
    assert (row["prompt_tokens"], row["completion_tokens"], row["cache_read_input_tokens"]) == (500, 90, 0)
    assert row["cost_usd"] == 0.25 and json.loads(row["record"]) == later


@pytest.mark.parametrize(
    ("created_at", "at"),
    [
        (1731753062, datetime(2024, 11, 16, 10, 31, 2, tzinfo=UTC).timestamp()),
        (1731753062.5, datetime(2024, 11, 16, 10, 31, 2, 500000, tzinfo=UTC).timestamp()),
        (1731753062123, datetime(2024, 11, 16, 10, 31, 2, 123000, tzinfo=UTC).timestamp()),  # ms
        ("2024-11-16T10:31:02Z", datetime(2024, 11, 16, 10, 31, 2, tzinfo=UTC).timestamp()),
        ("2024-11-16T23:31:02-05:00", datetime(2024, 11, 17, 4, 31, 2, tzinfo=UTC).timestamp()),
        ("2024-11-16T10:31:02", datetime(2024, 11, 16, 10, 31, 2, tzinfo=UTC).timestamp()),  # naive: UTC
    ],
)
def test_a_rows_time_is_when_the_request_was_made(
    tmp_path: Path, ledgers: list[Ledger], created_at: object, at: float
) -> None:
    path = tmp_path / "ledger.sqlite3"
    written(open_ledger(ledgers, path), KEY, record("gen-a", created_at=created_at))
    row = rows(path)["gen-a"]
    assert row["at"] == pytest.approx(at, abs=1e-3)
    assert row["day"] == int(at // 86400), "its UTC day"
    assert datetime.fromisoformat(row["created_at"]).timestamp() == pytest.approx(at, abs=1e-3)


@pytest.mark.parametrize("created_at", [None, "soon", True, -5, "", [1731753062]])
def test_a_record_without_a_readable_time_counts_when_first_seen_even_when_seen_again(
    tmp_path: Path, ledgers: list[Ledger], created_at: object
) -> None:
    path = tmp_path / "ledger.sqlite3"
    clock = Clock(1_800_000_000.0)
    ledger = open_ledger(ledgers, path, clock)
    written(ledger, KEY, record("gen-a", created_at=created_at))
    clock.now += 2 * 86400
    written(ledger, KEY, record("gen-a", created_at=created_at))
    row = rows(path)["gen-a"]
    assert row["at"] == 1_800_000_000.0 and row["day"] == 1_800_000_000 // 86400
    assert row["created_at"] is None and row["last_seen"] == 1_800_000_000.0 + 2 * 86400
    # Seen once more, now with a time of its own: that time wins.
    written(ledger, KEY, record("gen-a", created_at=1731753062))
    assert rows(path)["gen-a"]["at"] == 1731753062


# --- The file: modes, the key, identities ----------------------------------------------------------


@pytest.fixture
def no_umask() -> Iterator[None]:
    """umask 0 while the test runs: any mode that comes out owner-only was made so, not masked so."""
    before = os.umask(0)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("no_umask")
def test_the_file_its_wal_and_shm_and_new_directories_are_owner_only(
    tmp_path: Path, ledgers: list[Ledger]
) -> None:
    path = tmp_path / "made" / "for" / "it" / "ledger.sqlite3"
    ledger = open_ledger(ledgers, path)
    written(ledger, KEY, record("gen-a"))
    companions = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
    assert all(companion.exists() for companion in companions), "the writer still holds the file open"
    for made in (path, *companions):
        assert mode(made) == 0o600, (made, oct(mode(made)))
    for directory in (path.parent, path.parent.parent, path.parent.parent.parent):
        assert mode(directory) == 0o700, (directory, oct(mode(directory)))
    ledger.close()
    assert mode(path) == 0o600


def key_forms(key: str) -> list[bytes]:
    """The key as bytes in every encoding a careless write might use."""
    raw = key.encode()
    return [raw, key.encode("utf-16-le"), key.encode("utf-16-be"), raw.hex().encode(),
            base64.b64encode(raw), base64.b64encode(raw).rstrip(b"="), key[8:].encode()]  # fmt: skip


def assert_no_key_in_files(directory: Path, key: str) -> None:
    files = [found for found in directory.iterdir() if found.is_file()]
    assert files
    for found in files:
        content = found.read_bytes()
        for form in key_forms(key):
            assert form not in content, (found.name, form)


def test_the_key_is_nowhere_in_the_file_or_its_wal_before_and_after_a_checkpoint(
    tmp_path: Path, ledgers: list[Ledger]
) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = open_ledger(ledgers, path)
    written(ledger, KEY, *(record(f"gen-{n}") for n in range(50)))
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size > 0, "the rows are in the WAL, not yet checkpointed"
    assert_no_key_in_files(tmp_path, LEAK_CANARY)
    ledger.close()  # the last connection checkpoints the WAL into the file
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    db.close()
    assert len(rows(path)) == 50
    assert_no_key_in_files(tmp_path, LEAK_CANARY)


def identities(path: Path) -> dict[str, bytes]:
    return {gen_id: bytes(row["key_identity"]) for gen_id, row in rows(path).items()}


WRITE_IN_ANOTHER_PROCESS = """
import sys
from pathlib import Path
from kushrouter_mcp.ledger import Ledger
from kushrouter_mcp.settings.keys import ApiKey
ledger = Ledger(Path(sys.argv[1]))
ledger.record(ApiKey(sys.argv[2]), {"id": sys.argv[3]})
assert ledger.flush(10) and ledger.problem is None, ledger.problem
"""


def test_identities_differ_per_key_and_last_across_ledgers_and_processes(
    tmp_path: Path, ledgers: list[Ledger]
) -> None:
    path = tmp_path / "ledger.sqlite3"
    first = open_ledger(ledgers, path)
    written(first, KEY, record("by-key-1"))
    written(first, OTHER_KEY, record("by-other-1"))
    first.close()
    written(open_ledger(ledgers, path), KEY, record("by-key-2"))
    subprocess.run(  # a process of its own, with the key in argv only for this test's sake
        [sys.executable, "-c", WRITE_IN_ANOTHER_PROCESS, str(path), LEAK_CANARY, "by-key-3"],
        check=True,
        timeout=30,
    )
    found = identities(path)
    assert found["by-key-1"] == found["by-key-2"] == found["by-key-3"]
    assert found["by-other-1"] != found["by-key-1"]
    assert len(found["by-key-1"]) == 16
    # Reports read them so: each key its own rows.
    reader = open_ledger(ledgers, path)
    mine, _ = reader.report(KEY, EVERYTHING, [], 10)
    other, _ = reader.report(OTHER_KEY, EVERYTHING, [], 10)
    nobody, state = reader.report(ApiKey("kr_live_never_used_000000"), EVERYTHING, [], 10)
    assert (mine["totals"]["generations"], other["totals"]["generations"]) == (3, 1)
    assert nobody["totals"]["generations"] == 0 and state.exists and state.key_rows == 0


# --- A file this version won't or can't write -------------------------------------------------------


def make_newer(path: Path) -> None:
    """What a later version might leave: the next schema_version, and an index this one would make again."""
    with sqlite3.connect(path) as db:
        db.execute("UPDATE ledger_meta SET value = ? WHERE name = 'schema_version'", (SCHEMA_VERSION + 1,))
        db.execute("DROP INDEX generations_report")
    db.close()


def file_state(path: Path) -> tuple[Any, ...]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        schema = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        count = db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]
    db.close()
    return schema, count


def warnings_about(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and words in r.getMessage()
    ]


def test_a_newer_ledger_is_left_untouched_with_one_warning_and_still_read(
    tmp_path: Path, ledgers: list[Ledger], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.sqlite3"
    old = open_ledger(ledgers, path)
    written(old, KEY, record("gen-old"))
    old.close()
    make_newer(path)
    before = file_state(path)
    ledger = open_ledger(ledgers, path)
    attempted(ledger, KEY, record("gen-new-1"), record("gen-new-2"))
    attempted(ledger, KEY, record("gen-new-3"))
    assert file_state(path) == before, "not a row, not an index added to a newer version's file"
    (warning,) = warnings_about(caplog, CANNOT_WRITE)
    assert "newer kushrouter-mcp" in warning and "upgrade kushrouter-mcp" in warning, warning
    assert f"schema {SCHEMA_VERSION + 1}" in warning and str(path) in warning
    assert ledger.problem is not None and (ledger.pending, ledger.dropped) == (3, 0), "kept, not dropped"
    report, state = ledger.report(KEY, EVERYTHING, ["model"], 10)
    assert report["totals"]["generations"] == 1 and state.problem == ledger.problem
    assert state.pending == 3


def test_a_corrupt_file_is_a_warning_on_write_a_ledger_error_on_read_and_is_not_overwritten(
    tmp_path: Path, ledgers: list[Ledger], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.sqlite3"
    garbage = b"these are someone's notes, not a database\n" * 200
    path.write_bytes(garbage)
    ledger = open_ledger(ledgers, path)
    for n in range(3):
        attempted(ledger, KEY, record(f"gen-{n}"))
    (warning,) = warnings_about(caplog, CANNOT_WRITE)
    assert "not a database" in warning and str(path) in warning and "KUSHROUTER_MCP_LEDGER" in warning
    assert path.read_bytes() == garbage
    with pytest.raises(LedgerError, match="not a database") as refused:
        ledger.report(KEY, EVERYTHING, ["day"], 10)
    assert str(path) in str(refused.value)
    with pytest.raises(LedgerError, match="not a database"):
        list(ledger.records(KEY, EVERYTHING))


def test_a_directory_that_cant_be_made_is_one_warning_and_nothing_to_read(
    tmp_path: Path, ledgers: list[Ledger], caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a-file").write_text("a regular file where a directory would have to be")
    path = tmp_path / "a-file" / "ledger" / "ledger.sqlite3"
    ledger = open_ledger(ledgers, path)
    for n in range(3):
        attempted(ledger, KEY, record(f"gen-{n}"))
    (warning,) = warnings_about(caplog, CANNOT_WRITE)
    assert "Not a directory" in warning, warning
    report, state = ledger.report(KEY, EVERYTHING, ["day"], 10)
    assert report["rows"] == [] and not state.exists and state.problem is not None


def test_a_directory_made_later_gets_every_row_those_that_waited_first_and_says_so(
    tmp_path: Path, ledgers: list[Ledger], caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a regular file where the ledger's directory belongs")
    ledger = open_ledger(ledgers, blocker / "ledger.sqlite3")
    attempted(ledger, KEY, record("gen-waited-1"), record("gen-waited-2"))
    assert ledger.problem is not None and (ledger.pending, ledger.dropped) == (2, 0)
    assert ledger.health().state == "degraded" and ledger.health().pending_rows == 2
    blocker.unlink()  # the user fixes it; the rows that waited are written, no restart needed
    written(ledger, KEY, record("gen-after"))
    assert ledger.problem is None and ledger.pending == 0
    assert set(rows(blocker / "ledger.sqlite3")) == {"gen-waited-1", "gen-waited-2", "gen-after"}
    assert len(warnings_about(caplog, "is written again")) == 1
    assert ledger.health().as_json() == {
        "state": "ok", "backend": "sqlite", "pending_rows": 0, "dropped_rows": 0, "problem": None
    }  # fmt: skip


def test_rows_that_waited_are_written_by_the_writer_alone_after_its_pause(
    tmp_path: Path, ledgers: list[Ledger]
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a regular file where the ledger's directory belongs")
    ledger = open_ledger(ledgers, blocker / "ledger.sqlite3")
    attempted(ledger, KEY, record("gen-waited"))
    blocker.unlink()
    deadline = time.monotonic() + 10
    while ledger.pending and time.monotonic() < deadline:  # no flush: the writer's own retry
        time.sleep(0.05)
    assert ledger.pending == 0 and ledger.problem is None
    assert set(rows(blocker / "ledger.sqlite3")) == {"gen-waited"}


def test_a_problem_that_lasts_is_tried_ever_less_often_within_the_bound(
    tmp_path: Path, ledgers: list[Ledger], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kushrouter_mcp.ledger import ledger as ledger_module

    monkeypatch.setattr(ledger_module, "MAX_PENDING", 5)
    path = tmp_path / "ledger.sqlite3"
    written(open_ledger(ledgers, path), KEY, record("gen-old"))
    make_newer(path)  # a newer schema: no retry will ever work
    ledger = open_ledger(ledgers, path)
    for n in range(12):
        ledger.record(KEY, record(f"gen-{n}"))
    time.sleep(3.2)
    # Pauses of 0.5, 1 and 2 s after the first try: 4 tries in 3.2 s at most, not a spin.
    assert 1 <= ledger._attempts <= 4, ledger._attempts  # what the writer did
    assert (ledger.pending, ledger.dropped) == (5, 7), "the bound holds; only the overflow is dropped"
    assert len(warnings_about(caplog, CANNOT_WRITE)) == 1
    assert ledger.close(timeout=0.5) == 5
    (lost,) = warnings_about(caplog, "not written in time")
    assert "5 rows" in lost and "newer kushrouter-mcp" in lost, lost


def test_a_writer_too_far_behind_drops_new_rows_counts_them_and_says_so_once(
    tmp_path: Path, ledgers: list[Ledger], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kushrouter_mcp.ledger import ledger as ledger_module

    monkeypatch.setattr(ledger_module, "MAX_PENDING", 3)
    ledger = open_ledger(ledgers, tmp_path / "ledger.sqlite3")
    for n in range(10):  # queued within microseconds: the writer is still gathering its first rows
        ledger.record(KEY, record(f"gen-{n}"))
    assert ledger.flush(10)
    assert ledger.dropped == 7
    assert set(rows(tmp_path / "ledger.sqlite3")) == {"gen-0", "gen-1", "gen-2"}
    (warning,) = warnings_about(caplog, "new rows are dropped")
    assert "1 so far" in warning, warning


def test_a_row_the_database_refuses_is_left_out_and_the_rows_around_it_are_written(
    tmp_path: Path, ledgers: list[Ledger], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = open_ledger(ledgers, path)
    written(ledger, KEY, record("gen-first"))
    with sqlite3.connect(path) as db:  # the database itself refuses one row, whatever the batch
        db.execute(
            "CREATE TRIGGER refuse_one BEFORE INSERT ON generations WHEN NEW.id = 'gen-bad' "
            "BEGIN SELECT RAISE(ABORT, 'this row is refused'); END"
        )
    db.close()
    ids = [f"gen-{n}" for n in range(6)]
    for gen_id in [*ids[:3], "gen-bad", *ids[3:]]:
        ledger.record(KEY, record(gen_id))
    deadline = time.monotonic() + 30
    while ledger.pending and time.monotonic() < deadline:
        ledger.flush(2)  # each flush tries at once: halved batches, then the rows one by one
    assert ledger.pending == 0 and ledger.dropped == 1
    assert set(rows(path)) == {"gen-first", *ids}, "every row but the refused one, none held up"
    (refused,) = warnings_about(caplog, "refused the row")
    assert "gen-bad" in refused and "this row is refused" in refused, refused
    assert ledger.health().state == "ok"


def test_an_overflow_is_said_again_each_time_its_count_grows_tenfold(
    tmp_path: Path, ledgers: list[Ledger], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kushrouter_mcp.ledger import ledger as ledger_module

    monkeypatch.setattr(ledger_module, "MAX_PENDING", 2)
    blocker = tmp_path / "data"
    blocker.write_text("a regular file where the ledger's directory belongs")
    ledger = open_ledger(ledgers, blocker / "ledger.sqlite3")
    for n in range(152):
        ledger.record(KEY, record(f"gen-{n}"))
    counts = [w.rsplit(": ", 1)[1] for w in warnings_about(caplog, "new rows are dropped")]
    assert counts == ["1 so far", "10 so far", "100 so far"], counts
    assert ledger.health().as_json() | {"problem": None} == {
        "state": "degraded", "backend": "sqlite", "pending_rows": 2, "dropped_rows": 150, "problem": None
    }  # fmt: skip


def test_the_usage_report_tool_answers_an_unreadable_ledger_with_an_error_naming_the_file(
    tmp_path: Path, ledgers: list[Ledger]
) -> None:
    import anyio

    from kushrouter_mcp.face import tools

    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"not an SQLite file at all\n" * 100)
    ledger = open_ledger(ledgers, path)
    result = anyio.run(tools.usage_report, ledger, KEY, "30d")
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error and str(path) in text and "KUSHROUTER_MCP_LEDGER" in text, text
    assert "Traceback" not in text and LEAK_CANARY not in text


# --- Through a server: lookups go on ---------------------------------------------------------------


def unprivileged_prefix() -> list[str]:
    """A command prefix that makes permission bits bind the process as they bind a user.

    Root ignores them (CAP_DAC_OVERRIDE), so as root the server runs without those capabilities:
    still uid 0 (its Python stays readable), but a file of mode 0400 is read-only to it.
    """
    if os.geteuid() != 0:
        return []
    dropped = "-dac_override,-dac_read_search,-fowner"
    return ["setpriv", f"--inh-caps={dropped}", f"--bounding-set={dropped}"]


def server_client(
    sandbox: RunningSandbox, errlog: Any, ledger: Path, prefix: list[str] | None = None
) -> Client:
    command, *args = [*(prefix or []), *kushrouter_command()]
    env = server_env(sandbox.base_url, ALICE_KEY, KUSHROUTER_MCP_LEDGER=str(ledger))
    return Client(stdio_client(StdioServerParameters(command=command, args=args, env=env), errlog=errlog))


async def lookups_go_on(client: Client) -> None:
    """Three kinds of lookup, each answered as if there were no ledger at all."""
    one = await client.call_tool("get_generation", {"id": CHAT_ID})
    assert not one.is_error and one.structured_content["usage"] == SEED_RECORDS[CHAT_ID]["usage"]
    many = await client.call_tool("get_generations", {"ids": [RESPONSES_ID, ANTHROPIC_ID]})
    assert not many.is_error and many.structured_content["counts"]["found"] == 2
    read = await client.read_resource(f"kushrouter://generations/{ANTHROPIC_ID}")
    assert json.loads(read.contents[0].text)["id"] == ANTHROPIC_ID  # type: ignore[union-attr]
    again = await client.call_tool("get_generation", {"id": RESPONSES_ID})
    assert not again.is_error


def stderr_warnings(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if CANNOT_WRITE in line]


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


@pytest.mark.anyio
async def test_a_read_only_ledger_leaves_lookups_as_they_were_with_one_warning(
    sandbox: RunningSandbox, tmp_path: Path, ledgers: list[Ledger]
) -> None:
    directory = tmp_path / "ledger"
    path = directory / "ledger.sqlite3"
    written(open_ledger(ledgers, path), ApiKey(ALICE_KEY), record("gen-kept-before"))
    ledgers[0].close()
    before = path.read_bytes()
    path.chmod(0o400)
    directory.chmod(0o500)
    log = tmp_path / "stderr.log"
    try:
        with log.open("w") as errlog:
            async with server_client(sandbox, errlog, path, unprivileged_prefix()) as client:
                await lookups_go_on(client)
                report = await client.call_tool("usage_report", {"since": "2000-01-01"})
    finally:
        directory.chmod(0o700)
    assert path.read_bytes() == before and sorted(directory.iterdir()) == [path]
    (warning,) = stderr_warnings(log)
    assert "Permission denied" in warning or "readonly" in warning, warning
    assert "Traceback" not in log.read_text()
    # Reading fails too: SQLite can't open a WAL-mode file whose -shm it may not create. The report
    # says so, naming the file and what to do; the lookups above were answered all the same.
    text = text_of(report)
    assert report.is_error and "can't be read" in text and str(path) in text, text
    assert "KUSHROUTER_MCP_LEDGER" in text and "lookups work meanwhile" in text, text


@pytest.mark.anyio
async def test_a_ledger_directory_that_cant_be_made_leaves_lookups_as_they_were_with_one_warning(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    path = tmp_path / "a-file" / "sub" / "ledger.sqlite3"
    log = tmp_path / "stderr.log"
    with log.open("w") as errlog:
        async with server_client(sandbox, errlog, path) as client:
            await lookups_go_on(client)
            report = await client.call_tool("usage_report", {})
    (warning,) = stderr_warnings(log)
    assert "Not a directory" in warning and "KUSHROUTER_MCP_LEDGER" in warning, warning
    assert not report.is_error
    text = text_of(report)
    assert "Nothing recorded" in text and "can't be written right now" in text and "Not a directory" in text


@pytest.mark.anyio
async def test_a_newer_ledger_leaves_lookups_as_they_were_and_the_file_untouched(
    sandbox: RunningSandbox, tmp_path: Path, ledgers: list[Ledger]
) -> None:
    path = tmp_path / "ledger.sqlite3"
    written(open_ledger(ledgers, path), ApiKey(ALICE_KEY), record("gen-kept-before"))
    ledgers[0].close()
    make_newer(path)
    before = file_state(path)
    log = tmp_path / "stderr.log"
    with log.open("w") as errlog:
        async with server_client(sandbox, errlog, path) as client:
            await lookups_go_on(client)
            report = await client.call_tool("usage_report", {"since": "2000-01-01", "group_by": []})
    assert file_state(path) == before
    (warning,) = stderr_warnings(log)
    assert "newer kushrouter-mcp" in warning, warning
    assert not report.is_error and report.structured_content["totals"]["generations"] == 1
