"""`kushrouter-mcp report`: the ledger's usage report, or its records, as a table, CSV, JSON or JSON Lines.

It reads the ledger the server writes (KUSHROUTER_MCP_LEDGER, or the default file) for the key in
KUSHROUTER_API_KEY, or every key's rows with --all-keys. With --refresh it first looks up again the
key's records that were not final when last seen, through the server's own lookups (priced, and
written to the ledger as they pass). The data goes to stdout or --output; everything said about it
goes to stderr, so a pipe or a file gets the data alone.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

import anyio

from ..ledger import Ledger, LedgerState, ledger_for
from ..ledger.errors import LedgerError
from ..ledger.export import (
    record_columns,
    record_row,
    records_table,
    report_columns,
    write_csv,
    write_json_records,
    write_jsonl,
)
from ..ledger.rows import KEY_GROUP
from ..reports.periods import (
    DEFAULT_GROUP_BY,
    MAX_LIMIT,
    InvalidReportArgument,
    Period,
    iso,
    parse_group_by,
    parse_limit,
    parse_period,
)
from ..reports.report import report_table
from ..settings.config import ConfigError, Settings
from ..settings.keys import ApiKey
from ..settings.logs import configure_logging
from ..upstream.batch import lookup_many
from ..upstream.cache import is_final
from ..upstream.client import GenerationsApi
from ..upstream.failures import ErrorKind
from .costs import costs_for, served_lookups
from .summaries import recorded_span, report_caveats, report_heading

PROG = "kushrouter-mcp"
REFRESH_WINDOW = timedelta(days=7)  # KushRouter keeps records about a week: older ones are gone
# The usage_report tool's argument names, as this command's options say them.
_OPTION_OF = {"since": "--since", "until": "--until", "group_by": "--by", "limit": "--limit"}
_ARGUMENT_NAME = re.compile(r"(?<![\w'\"-])(since|until|group_by|limit)(?![\w'\"])")

Writer = Callable[[TextIO], int]  # writes the data, returns how many rows


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """The command line's options, as given (parsed and checked here)."""

    since: str | None = None
    until: str | None = None
    by: str | None = None
    format: str = "table"
    output: str | None = None
    records: bool = False
    all_keys: bool = False
    refresh: bool = False
    limit: str | None = None


@dataclass(frozen=True, slots=True)
class _Asked:
    period: Period
    group_by: tuple[str, ...]
    limit: int | None  # None: every row


def run_report(options: ReportOptions, settings: Settings) -> int:
    """Refresh if asked, then write the report; a usage problem raises ConfigError (exit 2)."""
    asked = _parse(options, datetime.now(UTC))
    ledger = _ledger(settings)
    key = _key_for(options, settings.api_key)
    configure_logging(settings.log_level, settings.log_secrets())
    _say(f"ledger: {ledger.where}")
    if not ledger.backend.exists():
        _say(
            f"note: there is no ledger at {ledger.where} yet (a server creates it with the first record it "
            "looks up), so the report is empty. If your server keeps it elsewhere, set "
            "KUSHROUTER_MCP_LEDGER to the same file here."
        )
    try:
        if options.refresh and settings.api_key is not None:
            refresh(ledger, settings, settings.api_key, datetime.now(UTC))
        return _emit(options, _writer(options, ledger, key, asked))
    except LedgerError as error:
        raise ConfigError(f"{error}. {_ledger_advice(ledger)}") from None


# --- Checking what was asked ---------------------------------------------------------------------


def _parse(options: ReportOptions, now: datetime) -> _Asked:
    if options.records and options.by is not None:
        raise ConfigError(
            "--by groups the report and --records lists each generation: give one or the other."
        )
    try:
        period = parse_period(options.since, options.until, now)
        group_by = DEFAULT_GROUP_BY if options.by is None else parse_group_by(options.by)
        limit = None if options.limit is None else parse_limit(_whole_number(options.limit))
    except InvalidReportArgument as error:
        message = _ARGUMENT_NAME.sub(lambda found: _OPTION_OF[found[1]], str(error))
        if message.startswith("--by"):
            message += ' Give them comma-separated, like --by day,model (--by "" for the total alone).'
        raise ConfigError(message) from None
    return _Asked(period, group_by, limit)


def _whole_number(text: str) -> object:
    return int(text) if text.strip().isdigit() else text


def _ledger_advice(ledger: Ledger) -> str:
    return f"Fix that, or point KUSHROUTER_MCP_LEDGER at {ledger.backend.elsewhere}."


def _ledger(settings: Settings) -> Ledger:
    ledger = ledger_for(settings)
    if ledger is None:
        raise ConfigError(
            "the ledger is off (KUSHROUTER_MCP_LEDGER=off), so there is nothing to report: unset "
            "KUSHROUTER_MCP_LEDGER, or set it to the ledger's file."
        )
    return ledger


def _key_for(options: ReportOptions, key: ApiKey | None) -> ApiKey | None:
    """Whose rows to read: the key's, or None for every key's (--all-keys)."""
    if key is None and options.refresh:
        raise ConfigError(
            "--refresh looks records up again with the key they were looked up with: set "
            "KUSHROUTER_API_KEY to that kr_… key."
        )
    if key is None and not options.all_keys:
        raise ConfigError(
            "no key to report for: the ledger keeps each API key's records apart. Set KUSHROUTER_API_KEY "
            "to the kr_… key whose records to report, or pass --all-keys for every key's."
        )
    return None if options.all_keys else key


# --- Refreshing ------------------------------------------------------------------------------------


def refresh(ledger: Ledger, settings: Settings, key: ApiKey, now: datetime) -> None:
    """Look the key's records that were not final up again (within retention); say each outcome."""
    ids = ledger.not_final(key, (now - REFRESH_WINDOW).timestamp())
    if not ids:
        _say("refresh: no records seen in the last 7 days are waiting to be final.")
        return
    _say(f"refresh: looking up {len(ids)} records that were not final when last seen…")
    batch = anyio.run(_look_up_again, settings, ledger, key, ids)
    for outcome in batch["results"]:
        _say(_refresh_outcome(outcome))
    ledger.flush()
    if ledger.problem:
        _say(f"warning: the refreshed records could not be written to the ledger ({ledger.problem}).")


async def _look_up_again(settings: Settings, ledger: Ledger, key: ApiKey, ids: list[str]) -> dict[str, Any]:
    api = GenerationsApi(settings)
    try:
        records = served_lookups(api, costs_for(settings), ledger)
        return await lookup_many(records, ids, key, concurrency=settings.batch_concurrency)
    finally:
        await api.aclose()


def _refresh_outcome(outcome: dict[str, Any]) -> str:
    gen_id = outcome["id"]
    record = outcome.get("generation")
    if record is not None:
        status = record.get("status") or "no status"
        if is_final(record):
            return f"refreshed {gen_id}: final now ({status})."
        return f"{gen_id} is still not final (status {status}); --refresh again later."
    error = outcome["error"]
    if error["kind"] == ErrorKind.NOT_FOUND:
        return (
            f"{gen_id} was not found any more (KushRouter keeps records about a week): its row stays "
            "as it was."
        )
    return f"refreshing {gen_id} failed: {error['message']}"


# --- Writing --------------------------------------------------------------------------------------


def _writer(options: ReportOptions, ledger: Ledger, key: ApiKey | None, asked: _Asked) -> Writer:
    if options.records:
        return _records_writer(options, ledger, key, asked)
    return _report_writer(options, ledger, key, asked)


def _report_writer(options: ReportOptions, ledger: Ledger, key: ApiKey | None, asked: _Asked) -> Writer:
    group_by = asked.group_by if key is not None else (KEY_GROUP, *asked.group_by)
    report, state = ledger.report(key, asked.period, group_by, asked.limit or MAX_LIMIT)
    _notes_on_report(report, state, key is None)
    rows: list[dict[str, Any]] = report["rows"]

    def write(out: TextIO) -> int:
        if options.format == "csv":
            return write_csv(out, report_columns(report), rows)
        if options.format == "jsonl":
            return write_jsonl(out, rows)
        if options.format == "json":
            out.write(json.dumps({**report, "ledger": "on"}, ensure_ascii=False, indent=2) + "\n")
            return len(rows)
        out.write(f"{_report_heading(report, key is None)}\n{report_table(report)}\n")
        return len(rows)

    return write


def _report_heading(report: dict[str, Any], all_keys: bool) -> str:
    return report_heading(report, f"{'every' if all_keys else 'this'} key's records in the ledger")


def _notes_on_report(report: dict[str, Any], state: LedgerState, all_keys: bool) -> None:
    totals = report["totals"]
    if report["more_rows"]:
        _say(f"note: {report['more_rows']} more rows not shown (raise --limit); the totals count them.")
    for caveat in report_caveats(totals):
        _say(f"note: {caveat}")
    if not totals["generations"] and state.exists:
        whose = "in the ledger" if all_keys else "for this key"
        span = f"; its {recorded_span(state)}" if state.key_rows else ""
        _say(f"note: nothing recorded from {report['since']} to {report['until']} {whose}{span}.")


def _records_writer(options: ReportOptions, ledger: Ledger, key: ApiKey | None, asked: _Asked) -> Writer:
    all_keys = key is None
    period = asked.period

    def rows() -> Iterator[dict[str, Any]]:
        entries = ledger.records(key, period)
        yield from (record_row(entry, all_keys) for entry in islice(entries, asked.limit))
        if asked.limit is not None and (more := sum(1 for _ in entries)):
            _say(f"note: {more} more records not shown (raise --limit).")

    def write(out: TextIO) -> int:
        if options.format == "csv":
            return write_csv(out, record_columns(all_keys), rows())
        if options.format == "jsonl":
            return write_jsonl(out, rows())
        if options.format == "json":
            head = {"since": iso(period.since), "until": iso(period.until), "ledger": "on"}
            return write_json_records(out, head, rows())
        listed = list(rows())
        whose = "every key's" if all_keys else "this key's"
        heading = f"Generations from {iso(period.since)} to {iso(period.until)} (UTC), {whose}:"
        out.write(f"{heading}\n{records_table(listed, all_keys) if listed else '(none)'}\n")
        return len(listed)

    return write


def _emit(options: ReportOptions, write: Writer) -> int:
    """The data to --output (whole or not at all) or to stdout."""
    if options.output is None:
        return _to_stdout(write, options.format == "csv")
    path = Path(options.output).expanduser()
    rows = _write_atomically(path, write)
    _say(f"wrote {rows} rows to {path}")
    return 0


def _to_stdout(write: Writer, csv_lines: bool) -> int:
    if csv_lines and isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(newline="")  # CSV writes its own CRLF line ends
    try:
        write(sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
    return 0


def _write_atomically(path: Path, write: Writer) -> int:
    """Written beside `path` and renamed over it: a reader sees the old file or the whole new one.
    Owner-only (0600), as the ledger itself: it says what was spent."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise ConfigError(
            f"can't write {path} ({error.strerror}): give --output a file in a writable directory."
        ) from None
    try:
        with open(handle, "w", encoding="utf-8", newline="") as out:
            rows = write(out)
        os.replace(temporary, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise ConfigError(
            f"can't write {path} ({error.strerror or error}): give --output another file."
        ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return rows


def _say(line: str) -> None:
    print(f"{PROG}: {line}", file=sys.stderr, flush=True)
