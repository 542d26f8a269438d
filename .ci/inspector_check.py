#!/usr/bin/env python3
"""Drive the installed kushrouter-mcp server with the MCP Inspector CLI (a client we did not write).

Python 3.11 standard library and the installed project's process helpers
(kushrouter_mcp.sandbox.processes) only. Run with the Python of the environment that has the
project installed, e.g.:

    .ci-cache/venv/bin/python .ci/inspector_check.py --launcher \
        .ci-cache/inspector/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js

It starts the offline sandbox upstream (`kushrouter-mcp sandbox --port 0`), then checks the server
over stdio and over streamable HTTP (open on loopback, then in both key modes with the credential
sent by the Inspector as a header), the cost estimates included (a record's `estimated_cost` with a
numeric total and a genai-prices source, the batch totals' `estimated_cost_usd` and `unpriced`, and
the sandbox's model no price list knows with a null total), and the usage ledger: each server keeps
one of its own in the scratch directory, and after the lookups `usage_report` must count exactly the
records they found (sums computed from the sandbox's records), refuse a bad argument with isError,
and leave no API key or token in any ledger file. The usage dashboard (MCP Apps): resources/list
shows its ui:// resource as text/html;profile=mcp-app, resources/read returns that page, and
tools/list (both protocol eras) binds exactly get_generations and usage_report to it in
`_meta.ui.resourceUri`. Prints `PASS <name>` / `FAIL <name>: <why>` per check, and exits 1 if any
check fails. Only 127.0.0.1 is ever contacted.

Inspector CLI facts this relies on (verified against @modelcontextprotocol/inspector 2.12.0):
- `--format json` prints one JSON object on stdout: `{"result": {...}}`; for tools/call the result
  holds `content`, `structuredContent` and `isError`. Error envelopes go to stderr as
  `{"error": {"code": ..., "message": ...}}`.
- Exit codes: 0 ok; 5 when the tool is missing or its result has isError (the result is still
  printed on stdout); 4 server unreachable; 1 other.
- `-e KEY=VALUE` (repeatable) is the stdio server's environment; otherwise it only gets HOME,
  PATH, SHELL and TERM. A stdio server's own stderr is forwarded to the Inspector's stderr.
- A target URL ending in /mcp selects the streamable HTTP transport.
- `--protocol-era modern` pins the 2026-07-28 protocol with no fallback to the legacy handshake.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from kushrouter_mcp.sandbox.processes import (
    ProcessDidNotStart,
    SandboxProcess,
    ServerProcess,
    free_port,
    kushrouter_command,
    start_sandbox,
    start_server,
    stop_process,
)
from kushrouter_mcp.sandbox.samples import BOB_KEY, SEED_RECORDS, UNPRICED_ID, UNPRICED_MODEL

SUBPROCESS_TIMEOUT = 60.0  # seconds, for every Inspector run
SANDBOX_START_TIMEOUT = 30.0
HTTP_START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
SANDBOX_STDERR = "sandbox.stderr.log"

CHAT_ID = "chatcmpl-1731753062-2q7nyc"
RESPONSES_ID = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"
ANTHROPIC_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"
MISSING_ID = "no-such-generation-xyz"
LIST_PRICE_SOURCE = "genai-prices"  # how every estimate at list price names its source
RESOURCE_TEMPLATE = "kushrouter://generations/{id}"
# The usage dashboard (MCP Apps): its resource, the MIME type hosts render, the tools that show it.
APP_URI = "ui://kushrouter/usage-dashboard.html"
APP_MIME_TYPE = "text/html;profile=mcp-app"
APP_TOOLS = ("get_generations", "usage_report")
APP_DATA_SLOT = 'id="kushrouter-data"'
ACCESS_TOKEN = "ci-access-token-7f3a9c2e5b8d1f4a"  # noqa: S105 - a throwaway token for a loopback check
# What usage_report sums per group and in its totals, besides `generations`, `estimated_cost_usd`, `unpriced`.
TOKEN_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)

ANTHROPIC_MESSAGE = {
    "id": ANTHROPIC_ID,
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "Hello!"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 6},
}


_SECRETS: list[str] = []  # redacted from everything this script prints


def redact(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, "<KUSHROUTER_API_KEY>")
    return text


class CheckFailed(Exception):
    """A check's expectation was not met; the message says why."""


class Results:
    def __init__(self) -> None:
        self.passed: list[str] = []
        self.failed: list[tuple[str, str]] = []

    def ok(self, name: str, detail: str = "") -> None:
        self.passed.append(name)
        print(redact(f"PASS {name}" + (f" ({detail})" if detail else "")), flush=True)

    def fail(self, name: str, why: str) -> None:
        self.failed.append((name, why))
        print(redact(f"FAIL {name}: {why}"), flush=True)


class InspectorRun:
    def __init__(self, argv: list[str], rc: int | None, stdout: str, stderr: str, timed_out: bool) -> None:
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out

    def describe(self) -> str:
        return (
            f"exit={self.rc}{' (timed out)' if self.timed_out else ''}\n"
            f"    stdout: {_clip(self.stdout)}\n"
            f"    stderr: {_clip(self.stderr)}"
        )

    def json(self) -> dict[str, Any]:
        text = self.stdout.strip()
        if not text:
            raise CheckFailed(f"Inspector printed nothing on stdout; {self.describe()}")
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            # Fall back to the last line that parses (should not be needed with --format json).
            for line in reversed(text.splitlines()):
                try:
                    data = json.loads(line)
                    break
                except json.JSONDecodeError:
                    continue
            else:
                raise CheckFailed(f"Inspector stdout is not JSON; {self.describe()}") from None
        if not isinstance(data, dict):
            raise CheckFailed(f"Inspector stdout is not a JSON object; {self.describe()}")
        return data

    def result(self) -> dict[str, Any]:
        data = self.json()
        result = data.get("result")
        if not isinstance(result, dict):
            raise CheckFailed(f"no 'result' object in Inspector output; {self.describe()}")
        return result


def _clip(text: str, limit: int = 2000) -> str:
    text = redact(text.strip())
    if len(text) > limit:
        text = text[:limit] + f"... [{len(text) - limit} more chars]"
    return text.replace("\n", "\n            ") if text else "<empty>"


class Inspector:
    def __init__(self, node: str, launcher: Path, home: Path) -> None:
        self.node = node
        self.launcher = launcher
        self.env = dict(os.environ)
        self.env["HOME"] = str(home)
        self.env.pop("MCP_CATALOG_PATH", None)
        self.env.pop("MCP_CLIENT_CONFIG_PATH", None)
        self.runs: list[InspectorRun] = []

    def run(self, target: list[str], extra: list[str]) -> InspectorRun:
        argv = [self.node, str(self.launcher), "--cli", *target, *extra, "--format", "json"]
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            text=True,
            start_new_session=True,
        )
        timed_out = False
        try:
            out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
        except subprocess.TimeoutExpired:
            timed_out = True
            stop_process(proc, STOP_TIMEOUT, group=True)
            out, err = proc.communicate(timeout=STOP_TIMEOUT)
        # A stdio server spawned by the Inspector shares its process group: leave nothing behind.
        stop_process(proc, STOP_TIMEOUT, group=True)
        run = InspectorRun(argv, None if timed_out else proc.returncode, out or "", err or "", timed_out)
        self.runs.append(run)
        return run


def start_checked_sandbox(server_cmd: str, log_dir: Path) -> SandboxProcess:
    """`kushrouter-mcp sandbox --port 0` in its own process group, its stderr in `log_dir`; its key
    joins the secrets this script redacts, and its URL must be loopback."""
    sandbox = start_sandbox(
        executable=server_cmd,
        stderr=log_dir / SANDBOX_STDERR,
        timeout=SANDBOX_START_TIMEOUT,
        own_group=True,
    )
    if sandbox.api_key:
        _SECRETS.append(sandbox.api_key)
    parts = urlsplit(sandbox.base_url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1" or not parts.port:
        sandbox.stop()
        raise CheckFailed(f"sandbox base URL is not http://127.0.0.1:<port>: {sandbox.base_url!r}")
    if len(sandbox.api_key) < 8:
        sandbox.stop()
        raise CheckFailed(f"sandbox API key is too short to check for leaks ({len(sandbox.api_key)} chars)")
    return sandbox


def start_http_server(server_cmd: str, env: dict[str, str], log_path: Path) -> ServerProcess:
    """`kushrouter-mcp --transport http` on a free loopback port, listening, in its own process group.

    Its environment is `env` with PATH and a scratch HOME only (the clean environment of
    kushrouter_mcp.sandbox.processes): nothing of this machine's (a proxy, a KUSHROUTER_* setting)
    reaches it.
    """
    port = free_port()
    argv = kushrouter_command(
        "--transport", "http", "--host", "127.0.0.1", "--port", str(port), executable=server_cmd
    )
    home = {"HOME": str(log_path.parent)}
    return start_server(argv, port, {**home, **env}, log_path, timeout=HTTP_START_TIMEOUT, own_group=True)


def add_tool_arguments(parser: argparse.ArgumentParser) -> None:
    """--node and --server, the options every .ci check takes."""
    parser.add_argument("--node", default=shutil.which("node") or "node", help="node executable")
    parser.add_argument(
        "--server",
        default=str(Path(sys.executable).parent / "kushrouter-mcp"),
        help="kushrouter-mcp executable (default: next to this Python)",
    )


# --------------------------------------------------------------------------------------------- checks


def _tool_map(run: InspectorRun) -> dict[str, dict[str, Any]]:
    if run.rc != 0:
        raise CheckFailed(f"tools/list did not succeed; {run.describe()}")
    tools = run.result().get("tools")
    if not isinstance(tools, list):
        raise CheckFailed(f"result.tools is not a list; {run.describe()}")
    return {str(t.get("name")): t for t in tools if isinstance(t, dict)}


def check_tools_list(run: InspectorRun) -> str:
    tools = _tool_map(run)
    problems: list[str] = []
    for name in ("get_generation", "get_generations", "extract_generation_id", "usage_report"):
        if name not in tools:
            problems.append(f"tool {name!r} not listed (got {sorted(map(str, tools))})")
    if problems:
        raise CheckFailed("; ".join(problems))

    gg = tools["get_generation"]
    props = (gg.get("inputSchema") or {}).get("properties") or {}
    id_schema = props.get("id")
    if not isinstance(id_schema, dict):
        problems.append(f"get_generation inputSchema has no property 'id' (properties: {sorted(props)})")
    else:
        if id_schema.get("type") != "string":
            problems.append(f"get_generation id.type is {id_schema.get('type')!r}, want 'string'")
        if id_schema.get("maxLength") != 256:
            problems.append(f"get_generation id.maxLength is {id_schema.get('maxLength')!r}, want 256")
        if id_schema.get("minLength") != 1:
            problems.append(f"get_generation id.minLength is {id_schema.get('minLength')!r}, want 1")

    eg = tools["extract_generation_id"]
    eprops = (eg.get("inputSchema") or {}).get("properties") or {}
    if "payload" not in eprops:
        problems.append(
            f"extract_generation_id inputSchema has no property 'payload' (properties: {sorted(eprops)})"
        )

    rprops = (tools["usage_report"].get("inputSchema") or {}).get("properties") or {}
    if not {"since", "until", "group_by", "limit"} <= set(rprops):
        problems.append(f"usage_report inputSchema lacks since/until/group_by/limit (has {sorted(rprops)})")

    for name, open_world in (
        ("get_generation", True),
        ("get_generations", True),
        ("extract_generation_id", False),
        ("usage_report", False),  # reads this machine's ledger only
    ):
        tool = tools[name]
        if not isinstance(tool.get("outputSchema"), dict):
            problems.append(f"{name} has no outputSchema")
        ann = tool.get("annotations") or {}
        if ann.get("readOnlyHint") is not True:
            problems.append(f"{name} annotations.readOnlyHint is {ann.get('readOnlyHint')!r}, want true")
        if ann.get("openWorldHint") is not open_world:
            want = str(open_world).lower()
            problems.append(f"{name} annotations.openWorldHint is {ann.get('openWorldHint')!r}, want {want}")
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"{len(tools)} tools"


def _ok_call(run: InspectorRun) -> dict[str, Any]:
    if run.rc != 0:
        raise CheckFailed(f"tools/call did not succeed; {run.describe()}")
    result = run.result()
    if result.get("isError") is not False and result.get("isError") is not None:
        raise CheckFailed(f"result.isError is {result.get('isError')!r}; {run.describe()}")
    sc = result.get("structuredContent")
    if not isinstance(sc, dict):
        raise CheckFailed(f"result has no structuredContent object; {run.describe()}")
    return sc


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def estimate_problems(holder: dict[str, Any], where: str) -> list[str]:
    """What is wrong with `holder`'s estimated_cost at list price: a numeric total, a genai-prices source."""
    estimate = holder.get("estimated_cost")
    if not isinstance(estimate, dict):
        return [f"{where} has no estimated_cost object (got {estimate!r})"]
    problems = []
    total = estimate.get("total")
    if not _number(total) or total <= 0:
        problems.append(f"{where}.estimated_cost.total is {total!r}, want a number above 0")
    source = estimate.get("source")
    if not isinstance(source, str) or not source.startswith(LIST_PRICE_SOURCE):
        problems.append(
            f"{where}.estimated_cost.source is {source!r}, want one starting {LIST_PRICE_SOURCE!r}"
        )
    if estimate.get("currency") != "USD":
        problems.append(f"{where}.estimated_cost.currency is {estimate.get('currency')!r}, want 'USD'")
    return problems


def check_extract(run: InspectorRun) -> str:
    sc = _ok_call(run)
    problems = [
        f"structuredContent lacks {k!r}" for k in ("id", "endpoint", "ids", "stream", "usage") if k not in sc
    ]
    problems += estimate_problems(sc, "structuredContent")
    if sc.get("id") != ANTHROPIC_ID:
        problems.append(f"structuredContent.id is {sc.get('id')!r}, want {ANTHROPIC_ID!r}")
    if sc.get("endpoint") != "anthropic.messages":
        problems.append(f"structuredContent.endpoint is {sc.get('endpoint')!r}, want 'anthropic.messages'")
    if problems:
        raise CheckFailed("; ".join(problems) + f"; structuredContent={json.dumps(sc)[:800]}")
    return f"id={sc['id']} endpoint={sc['endpoint']}"


def check_get(run: InspectorRun) -> str:
    sc = _ok_call(run)
    problems = [f"structuredContent lacks {k!r}" for k in ("id", "endpoint", "model", "usage") if k not in sc]
    if sc.get("id") != CHAT_ID:
        problems.append(f"structuredContent.id is {sc.get('id')!r}, want {CHAT_ID!r}")
    usage = sc.get("usage")
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    if not isinstance(total, int) or isinstance(total, bool):
        problems.append(f"structuredContent.usage.total_tokens is {total!r}, want an integer")
    problems += estimate_problems(sc, "structuredContent")
    if problems:
        raise CheckFailed("; ".join(problems) + f"; structuredContent={json.dumps(sc)[:800]}")
    cost = sc["estimated_cost"]
    return (
        f"endpoint={sc.get('endpoint')} model={sc.get('model')} total_tokens={total} "
        f"estimated_cost.total={cost['total']} source={cost['source']!r}"
    )


def check_unpriced(run: InspectorRun) -> str:
    """The sandbox's model no price list knows: the call succeeds, the total is null, the note says why."""
    sc = _ok_call(run)
    problems = []
    if sc.get("id") != UNPRICED_ID or sc.get("model") != UNPRICED_MODEL:
        problems.append(f"the record is {sc.get('id')!r} of {sc.get('model')!r}, want {UNPRICED_ID!r}")
    estimate = sc.get("estimated_cost")
    if not isinstance(estimate, dict):
        problems.append(f"structuredContent has no estimated_cost object (got {estimate!r})")
    else:
        if "total" not in estimate or estimate["total"] is not None:
            problems.append(f"estimated_cost.total is {estimate.get('total', '<absent>')!r}, want null")
        note = estimate.get("note")
        if not isinstance(note, str) or UNPRICED_MODEL not in note:
            problems.append(f"estimated_cost.note is {note!r}, want one naming {UNPRICED_MODEL!r}")
    texts = " ".join(c.get("text", "") for c in run.result().get("content") or [] if isinstance(c, dict))
    if "not priced" not in texts or "$" in texts:
        problems.append(f"the text should say 'not priced' and show no dollar figure: {texts[:300]!r}")
    if problems:
        raise CheckFailed("; ".join(problems) + f"; structuredContent={json.dumps(sc)[:800]}")
    return "estimated_cost.total=null, the note names the model, no $ in the text"


def check_missing(run: InspectorRun, api_key: str) -> str:
    if run.timed_out:
        raise CheckFailed(f"Inspector timed out; {run.describe()}")
    if api_key in run.stdout or api_key in run.stderr:
        raise CheckFailed("the API key appears in the Inspector's stdout/stderr")
    if run.rc != 5:
        raise CheckFailed(f"Inspector exit code is {run.rc}, want 5 (isError result); {run.describe()}")
    result = run.result()
    if result.get("isError") is not True:
        raise CheckFailed(f"result.isError is {result.get('isError')!r}, want true; {run.describe()}")
    texts = [c.get("text", "") for c in result.get("content") or [] if isinstance(c, dict)]
    return "isError, exit 5, message: " + (" ".join(texts).strip()[:160] or "<no text content>")


def check_batch(run: InspectorRun) -> str:
    sc = _ok_call(run)
    counts = sc.get("counts") or {}
    want = {"ids": 2, "found": 1, "not_found": 1, "failed": 0}
    got = {k: counts.get(k) for k in want}
    results = sc.get("results") or []
    if got != want or [r.get("id") for r in results] != [CHAT_ID, MISSING_ID]:
        raise CheckFailed(f"counts {got}, want {want}; structuredContent={json.dumps(sc)[:800]}")
    totals = sc.get("totals") or {}
    overall = totals.get("overall") or {}
    total = overall.get("total_tokens")
    if not isinstance(total, int) or total <= 0:
        raise CheckFailed(
            f"totals.overall.total_tokens is {total!r}; structuredContent={json.dumps(sc)[:800]}"
        )
    problems = estimate_problems(results[0].get("generation") or {}, "results[0].generation")
    cost, unpriced = overall.get("estimated_cost_usd"), overall.get("unpriced")
    if not _number(cost) or cost <= 0:
        problems.append(f"totals.overall.estimated_cost_usd is {cost!r}, want a number above 0")
    if unpriced != 0 or isinstance(unpriced, bool):
        problems.append(f"totals.overall.unpriced is {unpriced!r}, want 0 (one record found, priced)")
    for group in ("by_model", "by_endpoint"):
        for name, sums in (totals.get(group) or {}).items():
            if "estimated_cost_usd" not in sums or "unpriced" not in sums:
                problems.append(f"totals.{group}[{name!r}] lacks estimated_cost_usd or unpriced")
    if problems:
        raise CheckFailed("; ".join(problems) + f"; structuredContent={json.dumps(sc)[:800]}")
    return f"found 1, not found 1, total_tokens={total}, estimated_cost_usd={cost}, unpriced={unpriced}"


def check_batch_unpriced(run: InspectorRun) -> str:
    """A priced and an unpriced record: the sum is the priced one's, and `unpriced` counts the other."""
    sc = _ok_call(run)
    found = {r.get("id"): r.get("generation") or {} for r in sc.get("results") or []}
    totals = sc.get("totals") or {}
    overall = totals.get("overall") or {}
    problems = []
    priced = (found.get(CHAT_ID, {}).get("estimated_cost") or {}).get("total")
    unpriced = found.get(UNPRICED_ID, {}).get("estimated_cost") or {}
    if not _number(priced):
        problems.append(f"{CHAT_ID}'s estimated_cost.total is {priced!r}, want a number")
    if "total" not in unpriced or unpriced["total"] is not None:
        problems.append(
            f"{UNPRICED_ID}'s estimated_cost.total is {unpriced.get('total', '<absent>')!r}, want null"
        )
    if overall.get("unpriced") != 1:
        problems.append(f"totals.overall.unpriced is {overall.get('unpriced')!r}, want 1")
    cost = overall.get("estimated_cost_usd")
    if not (_number(cost) and _number(priced) and abs(cost - priced) <= 1e-12):
        problems.append(f"totals.overall.estimated_cost_usd is {cost!r}, want the priced record's {priced!r}")
    by_model = (totals.get("by_model") or {}).get(UNPRICED_MODEL) or {}
    if by_model.get("estimated_cost_usd", "<absent>") is not None or by_model.get("unpriced") != 1:
        problems.append(
            f"totals.by_model[{UNPRICED_MODEL!r}] is {by_model!r}, want a null sum and unpriced 1"
        )
    if problems:
        raise CheckFailed("; ".join(problems) + f"; structuredContent={json.dumps(sc)[:800]}")
    return f"estimated_cost_usd={cost} (the priced one's), unpriced=1"


def report_arguments(ids: tuple[str, ...]) -> dict[str, Any]:
    """A report over the UTC days the records of `ids` were made (the sandbox's are old), by model."""
    days = sorted(_utc_day(SEED_RECORDS[gen_id]["created_at"]) for gen_id in ids)
    return {"since": days[0], "until": days[-1], "group_by": ["model"]}  # a date alone in until: to its end


def _utc_day(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).date().isoformat()


def expected_sums(ids: tuple[str, ...]) -> dict[str, int]:
    """What a report of the records of `ids` must count, from the sandbox's own records."""
    records = [SEED_RECORDS[gen_id] for gen_id in ids]
    sums = {name: sum(record["usage"][name] for record in records) for name in TOKEN_FIELDS}
    return {
        "generations": len(records),
        **sums,
        "unpriced": sum(r["model"] == UNPRICED_MODEL for r in records),
    }


def _priced_total(lookup: InspectorRun) -> float:
    """The estimated cost of the record a get_generation run returned."""
    total = (_ok_call(lookup).get("estimated_cost") or {}).get("total")
    if not _number(total):
        raise CheckFailed(f"the lookup before the report has no estimated cost; {lookup.describe()}")
    return float(total)


def check_usage_report(run: InspectorRun, ids: tuple[str, ...], lookup: InspectorRun) -> str:
    """The report counts exactly the records the lookups before it found (each once, however often
    looked up): its totals and one row per model; the cost is the priced records' (`lookup`'s)."""
    sc = _ok_call(run)
    totals = sc.get("totals") or {}
    want = expected_sums(ids)
    problems = [
        f"totals.{name} is {totals.get(name)!r}, want {value}"
        for name, value in want.items()
        if totals.get(name) != value or isinstance(totals.get(name), bool)
    ]
    if sc.get("ledger") != "on":
        problems.append(f"structuredContent.ledger is {sc.get('ledger')!r}, want 'on'")
    cost, priced = totals.get("estimated_cost_usd"), _priced_total(lookup)
    if not (_number(cost) and abs(cost - priced) <= 1e-9):
        problems.append(f"totals.estimated_cost_usd is {cost!r}, want the priced record's {priced!r}")
    models = {SEED_RECORDS[gen_id]["model"] for gen_id in ids}
    rows = {row.get("model"): row for row in sc.get("rows") or [] if isinstance(row, dict)}
    if set(rows) != models or any(row.get("generations") != 1 for row in rows.values()):
        problems.append(f"rows are {sorted(map(str, rows))}, want one generation each of {sorted(models)}")
    texts = " ".join(c.get("text", "") for c in run.result().get("content") or [] if isinstance(c, dict))
    if not all(model in texts for model in models) or "total" not in texts:
        problems.append(f"the text's table lacks a model or the total: {texts[:400]!r}")
    if problems:
        raise CheckFailed("; ".join(problems) + f"; structuredContent={json.dumps(sc)[:800]}")
    return (
        f"{want['generations']} generations, total_tokens={want['total_tokens']}, estimated_cost_usd={cost}"
    )


def check_report_refused(run: InspectorRun) -> str:
    """An unreadable `since`: isError (exit 5) with a message that shows the forms it accepts."""
    if run.rc != 5:
        raise CheckFailed(f"Inspector exit code is {run.rc}, want 5 (isError result); {run.describe()}")
    result = run.result()
    texts = " ".join(c.get("text", "") for c in result.get("content") or [] if isinstance(c, dict))
    if result.get("isError") is not True or '"7d"' not in texts or "since" not in texts:
        raise CheckFailed(f"want isError naming since and the accepted forms; {run.describe()}")
    return f"isError: {texts.strip()[:160]}"


def check_report_empty(run: InspectorRun) -> str:
    """A report with nothing in it is an answer, not an error, and says why it can be empty."""
    sc = _ok_call(run)
    generations = (sc.get("totals") or {}).get("generations")
    texts = " ".join(c.get("text", "") for c in run.result().get("content") or [] if isinstance(c, dict))
    if generations != 0 or sc.get("rows") != [] or "Nothing recorded" not in texts:
        raise CheckFailed(f"want no rows, 0 generations and 'Nothing recorded'; {run.describe()}")
    return texts.strip()[:160]


def check_ledger_files(ledgers: list[Path]) -> str:
    """Each server's ledger exists, is its owner's only (0600), and holds no API key or token."""
    problems = []
    for ledger in ledgers:
        if not ledger.is_file():
            problems.append(f"{ledger.name} was not created")
            continue
        if ledger.stat().st_mode & 0o777 != 0o600:
            problems.append(f"{ledger.name} has mode {ledger.stat().st_mode & 0o777:o}, want 600")
        for part in ledger.parent.glob(ledger.name + "*"):  # the file and its -wal/-shm companions
            if any(secret.encode() in part.read_bytes() for secret in _SECRETS):
                problems.append(f"{part.name} holds an API key or token")
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"{len(ledgers)} ledgers, 0600, no secret in any"


def check_templates(run: InspectorRun) -> str:
    if run.rc != 0:
        raise CheckFailed(f"resources/templates/list did not succeed; {run.describe()}")
    templates = [t.get("uriTemplate") for t in run.result().get("resourceTemplates") or []]
    if RESOURCE_TEMPLATE not in templates:
        raise CheckFailed(f"{RESOURCE_TEMPLATE} not listed (got {templates})")
    return RESOURCE_TEMPLATE


def check_resource(run: InspectorRun) -> str:
    if run.rc != 0:
        raise CheckFailed(f"resources/read did not succeed; {run.describe()}")
    contents = run.result().get("contents") or [{}]
    record = json.loads(contents[0].get("text") or "null")
    if not isinstance(record, dict) or record.get("id") != CHAT_ID:
        raise CheckFailed(f"the resource is not the record of {CHAT_ID}; {run.describe()}")
    problems = estimate_problems(record, "the resource's record")
    if problems:
        raise CheckFailed("; ".join(problems) + f"; {run.describe()}")
    return f"{contents[0].get('mimeType')} record of {record['id']} with estimated_cost"


def check_app_bindings(run: InspectorRun) -> str:
    """The dashboard's tools, and only they, carry `_meta.ui.resourceUri` naming the app resource."""
    bound = {
        name: ((tool.get("_meta") or {}).get("ui") or {}).get("resourceUri")
        for name, tool in _tool_map(run).items()
    }
    shown = {name: uri for name, uri in bound.items() if uri is not None}
    if shown != dict.fromkeys(APP_TOOLS, APP_URI):
        raise CheckFailed(f"want _meta.ui.resourceUri {APP_URI} on {list(APP_TOOLS)} only, got {shown}")
    return f"{', '.join(APP_TOOLS)} -> {APP_URI}"


def check_app_listed(run: InspectorRun) -> str:
    if run.rc != 0:
        raise CheckFailed(f"resources/list did not succeed; {run.describe()}")
    listed = {r.get("uri"): r.get("mimeType") for r in run.result().get("resources") or []}
    if listed.get(APP_URI) != APP_MIME_TYPE:
        raise CheckFailed(f"want {APP_URI} listed as {APP_MIME_TYPE}, got {listed}")
    return f"{APP_URI} {APP_MIME_TYPE}"


def check_app_read(run: InspectorRun) -> str:
    if run.rc != 0:
        raise CheckFailed(f"resources/read {APP_URI} did not succeed; {run.describe()}")
    (content,) = run.result().get("contents") or [{}]
    page = content.get("text") or ""
    problems = []
    if content.get("mimeType") != APP_MIME_TYPE:
        problems.append(f"mimeType is {content.get('mimeType')!r}, want {APP_MIME_TYPE!r}")
    if "<html" not in page.lower() or page.count(APP_DATA_SLOT) != 1:
        problems.append(f"not an HTML page with one {APP_DATA_SLOT} element ({len(page)} chars)")
    if problems:
        raise CheckFailed("; ".join(problems) + f"; {run.describe()}")
    return f"{len(page.encode())} bytes of HTML"


def check_prompts(run: InspectorRun) -> str:
    if run.rc != 0:
        raise CheckFailed(f"prompts/list did not succeed; {run.describe()}")
    names = [p.get("name") for p in run.result().get("prompts") or []]
    if "audit_usage" not in names:
        raise CheckFailed(f"audit_usage not listed (got {names})")
    return "audit_usage"


def check_refused(run: InspectorRun, secret: str) -> str:
    if secret in run.stdout or secret in run.stderr:
        raise CheckFailed("a credential appears in the Inspector's stdout/stderr")
    if run.rc == 0:
        raise CheckFailed(f"the call succeeded without valid credentials; {run.describe()}")
    if "invalid_token" not in run.stdout + run.stderr:  # the 401's error code, as the Inspector reports it
        raise CheckFailed(f"the Inspector reports no invalid_token refusal; {run.describe()}")
    return f"refused (exit {run.rc}, invalid_token)"


def run_check(results: Results, name: str, fn: Any, *args: Any) -> None:
    try:
        detail = fn(*args)
    except CheckFailed as exc:
        results.fail(name, str(exc))
    except Exception as exc:  # a bug in a check still counts as a failure, with its reason
        results.fail(name, f"{type(exc).__name__}: {exc}")
    else:
        results.ok(name, detail or "")


def call_args(tool: str, arguments: dict[str, Any]) -> list[str]:
    return ["--method", "tools/call", "--tool-name", tool, "--tool-args-json", json.dumps(arguments)]


LIST = ["--method", "tools/list"]
EXTRACT = call_args("extract_generation_id", {"payload": json.dumps(ANTHROPIC_MESSAGE)})
GET_OK = call_args("get_generation", {"id": CHAT_ID})
GET_MISSING = call_args("get_generation", {"id": MISSING_ID})
GET_UNPRICED = call_args("get_generation", {"id": UNPRICED_ID})
BATCH = call_args("get_generations", {"ids": [CHAT_ID, MISSING_ID, CHAT_ID]})
BATCH_UNPRICED = call_args("get_generations", {"ids": [CHAT_ID, UNPRICED_ID]})
TEMPLATES = ["--method", "resources/templates/list"]
READ = ["--method", "resources/read", "--uri", RESOURCE_TEMPLATE.replace("{id}", CHAT_ID)]
RESOURCES = ["--method", "resources/list"]
READ_APP = ["--method", "resources/read", "--uri", APP_URI]
PROMPTS = ["--method", "prompts/list"]
FOUND_IDS = (CHAT_ID, UNPRICED_ID)  # what transport_checks' lookups find (the unknown id is not kept)
AUTH_MODES = ("http server-key", "http per-request")
AUTH_FOUND_IDS = (CHAT_ID,)  # what the key modes' lookups find
REPORT = call_args("usage_report", report_arguments(FOUND_IDS))
AUTH_REPORT = call_args("usage_report", report_arguments(AUTH_FOUND_IDS))
REPORT_BAD = call_args("usage_report", {"since": "last tuesday"})


def transport_checks(
    results: Results, insp: Inspector, name: str, target: list[str], sandbox: SandboxProcess
) -> None:
    """What every transport must show a client we did not write: tools, calls, resource, prompt, and
    the report of what the calls looked up (the server's ledger holds nothing else)."""
    listed = insp.run(target, LIST)
    run_check(results, f"{name} tools/list", check_tools_list, listed)
    run_check(results, f"{name} tools/list _meta.ui", check_app_bindings, listed)
    run_check(results, f"{name} extract_generation_id", check_extract, insp.run(target, EXTRACT))
    lookup = insp.run(target, GET_OK)
    run_check(results, f"{name} get_generation", check_get, lookup)
    missing = insp.run(target, GET_MISSING)
    run_check(results, f"{name} get_generation unknown id", check_missing, missing, sandbox.api_key)
    run_check(results, f"{name} get_generations", check_batch, insp.run(target, BATCH))
    run_check(
        results, f"{name} get_generation unpriced model", check_unpriced, insp.run(target, GET_UNPRICED)
    )
    unpriced_batch = insp.run(target, BATCH_UNPRICED)
    run_check(results, f"{name} get_generations with an unpriced model", check_batch_unpriced, unpriced_batch)
    run_check(results, f"{name} resources/templates/list", check_templates, insp.run(target, TEMPLATES))
    run_check(results, f"{name} resources/read", check_resource, insp.run(target, READ))
    run_check(results, f"{name} resources/list app resource", check_app_listed, insp.run(target, RESOURCES))
    run_check(results, f"{name} resources/read app resource", check_app_read, insp.run(target, READ_APP))
    report = insp.run(target, REPORT)
    run_check(
        results, f"{name} usage_report counts the lookups", check_usage_report, report, FOUND_IDS, lookup
    )
    run_check(results, f"{name} usage_report bad since", check_report_refused, insp.run(target, REPORT_BAD))
    run_check(results, f"{name} prompts/list", check_prompts, insp.run(target, PROMPTS))
    modern = insp.run(target, [*LIST, "--protocol-era", "modern"])
    run_check(results, f"{name} tools/list modern era", check_tools_list, modern)
    run_check(results, f"{name} tools/list modern era _meta.ui", check_app_bindings, modern)


def stdio_checks(
    results: Results, insp: Inspector, server_cmd: str, sandbox: SandboxProcess, ledger: Path
) -> None:
    # Every Inspector run starts the server anew: all of them write to, and report from, one ledger.
    environment = [
        f"KUSHROUTER_BASE_URL={sandbox.base_url}",
        f"KUSHROUTER_API_KEY={sandbox.api_key}",
        f"KUSHROUTER_MCP_LEDGER={ledger}",
    ]
    target = [server_cmd, *(part for variable in environment for part in ("-e", variable))]
    transport_checks(results, insp, "stdio", target, sandbox)


@contextmanager
def http_server(
    results: Results, name: str, server_cmd: str, env: dict[str, str], log_dir: Path
) -> Iterator[list[str] | None]:
    """`kushrouter-mcp --transport http` on loopback: yields the Inspector's target (None: no start)."""
    log_path = log_dir / f"{name}.log"
    server: ServerProcess | None = None
    failures_before = len(results.failed)
    try:
        try:
            server = start_http_server(server_cmd, env, log_path)
        except ProcessDidNotStart as exc:
            results.fail(f"{name} start", _clip(str(exc)))
            yield None
            return
        results.ok(f"{name} start", f"127.0.0.1:{server.port}")
        # A URL ending in /mcp selects streamable HTTP; --stored-auth-only keeps it non-interactive.
        yield [server.url, "--transport", "http", "--stored-auth-only"]
        if server.process.poll() is not None:
            results.fail(f"{name} alive", f"exited with code {server.process.returncode} during the checks")
    finally:
        code = server.stop() if server else None
        if code is not None:
            print(f"info: {name} stopped (exit code {code})", flush=True)
        if len(results.failed) > failures_before and log_path.exists():
            print(f"info: {name} log:\n    {_clip(log_path.read_text(errors='replace'), 4000)}", flush=True)


def http_checks(
    results: Results, insp: Inspector, server_cmd: str, sandbox: SandboxProcess, log_dir: Path
) -> None:
    env = {**upstream_env(sandbox), "KUSHROUTER_MCP_LEDGER": str(ledger_path(log_dir, "http"))}
    with http_server(results, "http", server_cmd, env, log_dir) as target:
        if target is not None:
            transport_checks(results, insp, "http", target, sandbox)


def http_auth_checks(
    results: Results, insp: Inspector, server_cmd: str, sandbox: SandboxProcess, log_dir: Path
) -> None:
    """Both key modes, with the credential sent as a header by the Inspector: in, and out without it."""
    _SECRETS.extend((ACCESS_TOKEN, BOB_KEY))
    server_key, per_request = AUTH_MODES
    modes = (
        (server_key, {**upstream_env(sandbox), "KUSHROUTER_MCP_TOKENS": ACCESS_TOKEN}, ACCESS_TOKEN),
        (
            per_request,
            {"KUSHROUTER_BASE_URL": sandbox.base_url, "KUSHROUTER_MCP_KEY_MODE": "per-request"},
            sandbox.api_key,
        ),
    )
    for name, env, credential in modes:
        env = {**env, "KUSHROUTER_MCP_LEDGER": str(ledger_path(log_dir, name))}
        with http_server(results, name, server_cmd, env, log_dir) as target:
            if target is None:
                continue
            header = ["--header", f"Authorization: Bearer {credential}"]
            lookup = insp.run(target, [*GET_OK, *header])
            run_check(results, f"{name} get_generation", check_get, lookup)
            run_check(results, f"{name} get_generations", check_batch, insp.run(target, [*BATCH, *header]))
            # Per-request: the report reads the rows of the key in the header, which made the lookups.
            report = insp.run(target, [*AUTH_REPORT, *header])
            run_check(results, f"{name} usage_report", check_usage_report, report, AUTH_FOUND_IDS, lookup)
            if name == per_request:  # another key's caller, same server and ledger: none of those rows
                other = insp.run(target, [*AUTH_REPORT, "--header", f"Authorization: Bearer {BOB_KEY}"])
                run_check(results, f"{name} usage_report of another key", check_report_empty, other)
            run_check(
                results, f"{name} without credential", check_refused, insp.run(target, LIST), credential
            )


def ledger_path(log_dir: Path, name: str) -> Path:
    """The ledger of the server checked as `name`: its own file, so its report counts its lookups only."""
    return log_dir / f"{name.replace(' ', '-')}-ledger.sqlite3"


def upstream_env(sandbox: SandboxProcess) -> dict[str, str]:
    return {"KUSHROUTER_BASE_URL": sandbox.base_url, "KUSHROUTER_API_KEY": sandbox.api_key}


def with_sandbox(
    results: Results,
    insp: Inspector,
    server_cmd: str,
    log_dir: Path,
    checks: Callable[[SandboxProcess], None],
) -> None:
    """Start the sandbox, run `checks` against it, then check no secret reached any Inspector output."""
    sandbox: SandboxProcess | None = None
    try:
        try:
            sandbox = start_checked_sandbox(server_cmd, log_dir)
        except (CheckFailed, ProcessDidNotStart) as exc:
            results.fail("sandbox start", str(exc))
            return
        results.ok("sandbox start", sandbox.base_url)
        checks(sandbox)
        leaked = [r for r in insp.runs if any(s in r.stdout + r.stderr for s in _SECRETS)]
        if leaked:
            results.fail(
                "no API key or token in any Inspector output",
                f"found in {len(leaked)} of {len(insp.runs)} runs",
            )
        else:
            results.ok("no API key or token in any Inspector output", f"{len(insp.runs)} runs")
    finally:
        if sandbox is not None:
            print(f"info: sandbox stopped (exit code {sandbox.stop()})", flush=True)
        if results.failed and (log_dir / SANDBOX_STDERR).exists():
            stderr = (log_dir / SANDBOX_STDERR).read_text(errors="replace")
            print(f"info: sandbox stderr:\n    {_clip(stderr, 4000)}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launcher", required=True, type=Path, help="Inspector launcher build/index.js")
    add_tool_arguments(parser)
    parser.add_argument("--home", type=Path, help="HOME for Inspector runs (default: a new temp dir)")
    args = parser.parse_args()

    if not args.launcher.is_file():
        print(f"FAIL setup: Inspector launcher not found at {args.launcher}", flush=True)
        return 1
    server_cmd = args.server
    if not (os.path.isfile(server_cmd) and os.access(server_cmd, os.X_OK)):
        print(f"FAIL setup: server executable not found or not executable: {server_cmd}", flush=True)
        return 1

    with tempfile.TemporaryDirectory(prefix="inspector-check-") as tmp:
        tmp_path = Path(tmp)
        home = args.home or (tmp_path / "home")
        home.mkdir(parents=True, exist_ok=True)
        insp = Inspector(args.node, args.launcher.resolve(), home)
        results = Results()
        print(f"info: server={server_cmd} launcher={args.launcher} HOME={home}", flush=True)

        def every_transport(sandbox: SandboxProcess) -> None:
            stdio_checks(results, insp, server_cmd, sandbox, ledger_path(tmp_path, "stdio"))
            http_checks(results, insp, server_cmd, sandbox, tmp_path)
            http_auth_checks(results, insp, server_cmd, sandbox, tmp_path)
            ledgers = [ledger_path(tmp_path, name) for name in ("stdio", "http", *AUTH_MODES)]
            run_check(results, "ledger files", check_ledger_files, ledgers)

        with_sandbox(results, insp, server_cmd, tmp_path, every_transport)

    print(f"inspector_check: {len(results.passed)} passed, {len(results.failed)} failed", flush=True)
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
