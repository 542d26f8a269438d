#!/usr/bin/env python3
"""Judge the installed server with the official MCP conformance suite's server scenarios.

Python 3.11 standard library and the installed project's process helpers
(kushrouter_mcp.sandbox.processes) only. Run with the Python of the environment that has the
project installed, e.g.:

    .ci-cache/venv/bin/python .ci/conformance_check.py \
        --conformance .ci-cache/conformance/node_modules/@modelcontextprotocol/conformance

It serves `kushrouter-mcp --transport http` on a free loopback port (no API key: no scenario
looks a generation up, and nothing can reach an upstream), runs the suite's active server
scenarios with the expected-failures baseline (.ci/conformance-baseline.yml), and then checks
more than the suite's exit code does:
- every baseline entry carries a one-line reason;
- the scenarios that judge any server are not in the baseline and really ran and passed (each
  has a SUCCESS and no FAILURE or WARNING): initialize, ping, the three lists, SSE streams,
  DNS-rebinding protection, and logging/completion when the server declares those capabilities.
tools-call-simple-text and tools-call-error pass even though their fixture tools don't exist
here (they only look at the answer's shape), so they are reported but count for nothing.
Exits 1 on any failure. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from inspector_check import add_tool_arguments, start_http_server

from kushrouter_mcp.sandbox.processes import ProcessDidNotStart

HERE = Path(__file__).resolve().parent
BASELINE = HERE / "conformance-baseline.yml"
SUITE_TIMEOUT = 300.0

# Scenarios whose verdict says something about any MCP server, fixtures or not.
MUST_PASS = (
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
)
# Scenarios that judge a capability, once the server declares it.
MUST_PASS_IF_DECLARED = {"logging": "logging-set-level", "completions": "completion-complete"}
NO_EVIDENCE = ("tools-call-simple-text", "tools-call-error")
ENTRY = re.compile(r"^\s*-\s*(?P<name>[\w-]+)\s*(?:#\s*(?P<reason>\S.*))?$")


def read_baseline(path: Path) -> dict[str, str]:
    """scenario -> reason for each `  - name  # reason` line under `server:`; exits on a bad entry."""
    entries: dict[str, str] = {}
    in_server = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith((" ", "-")):
            in_server = line.split("#")[0].strip() == "server:"
            continue
        found = ENTRY.match(line)
        if not in_server or found is None:
            sys.exit(f"{path.name}:{number}: not a `  - scenario  # reason` entry under server: {line!r}")
        if not found["reason"]:
            sys.exit(f"{path.name}:{number}: {found['name']} has no reason; add `# why it can't pass here`")
        entries[found["name"]] = found["reason"]
    return entries


def declared_capabilities(url: str) -> dict[str, Any]:
    """The capabilities the server announces in an initialize answer (SSE or JSON)."""
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "conformance-check", "version": "1"},
            },
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - a fixed http://127.0.0.1 URL
        url,
        data=body,
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
    )
    # No ProxyHandler from the environment: a proxy set on the machine must not carry loopback.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        text = response.read().decode()
    for line in text.splitlines():
        payload = line.removeprefix("data:").strip()
        if payload.startswith("{"):
            capabilities: dict[str, Any] = json.loads(payload)["result"]["capabilities"]
            return capabilities
    raise RuntimeError(f"no initialize result in the answer: {text[:500]!r}")


def scenario_checks(results_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """scenario -> its checks, from the suite's output folders `server-<scenario>-<timestamp>`."""
    found: dict[str, list[dict[str, Any]]] = {}
    for checks_file in results_dir.glob("server-*/checks.json"):
        scenario = re.sub(r"^server-|-\d{4}-\d\d-\d\dT.*$", "", checks_file.parent.name)
        found[scenario] = json.loads(checks_file.read_text())
    return found


def passed(checks: list[dict[str, Any]]) -> bool:
    statuses = {check.get("status") for check in checks}
    return "SUCCESS" in statuses and not statuses & {"FAILURE", "WARNING"}


def judge(
    baseline: dict[str, str], must_pass: list[str], results: dict[str, list[dict[str, Any]]]
) -> list[str]:
    """Problems the suite's own exit code does not catch."""
    problems = [
        f"{name} judges every server and must pass; remove it from {BASELINE.name}"
        for name in must_pass
        if name in baseline
    ]
    for name in must_pass:
        if name not in results:
            problems.append(f"{name} did not run (no results)")
        elif not passed(results[name]):
            problems.append(f"{name} did not pass: {[c.get('errorMessage') for c in results[name]]}")
    return problems


def report(baseline: dict[str, str], must_pass: list[str], results: dict[str, list[dict[str, Any]]]) -> None:
    for name in sorted(results):
        verdict = "PASS" if passed(results[name]) else "XFAIL" if name in baseline else "FAIL"
        note = (
            "judges this server"
            if name in must_pass
            else "passes without its fixture tool: no evidence"
            if name in NO_EVIDENCE
            else f"expected: {baseline[name]}"
            if name in baseline
            else ""
        )
        print(f"{verdict} {name}" + (f"  ({note})" if note else ""), flush=True)


def print_log(log_path: Path) -> None:
    print(f"\nserver log:\n{log_path.read_text(errors='replace')[-4000:]}", flush=True)


def run_suite(node: str, package: Path, url: str, results_dir: Path) -> int:
    argv = [
        node,
        str(package / "dist" / "index.js"),
        "server",
        "--url",
        url,
        "--suite",
        "active",
        "--expected-failures",
        str(BASELINE),
        "-o",
        str(results_dir),
    ]
    print("$ " + " ".join(argv), flush=True)
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, timeout=SUITE_TIMEOUT, check=False).returncode  # noqa: S603
    except subprocess.TimeoutExpired:
        print(f"conformance: the suite did not finish within {SUITE_TIMEOUT:.0f} s", flush=True)
        return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conformance", required=True, type=Path, help="the installed package folder")
    add_tool_arguments(parser)
    args = parser.parse_args()
    baseline = read_baseline(BASELINE)
    with tempfile.TemporaryDirectory(prefix="kushrouter-conformance-") as scratch:
        log_path = Path(scratch) / "server.log"
        try:
            # The discard port upstream: nothing is ever looked up.
            server = start_http_server(args.server, {"KUSHROUTER_BASE_URL": "http://127.0.0.1:9"}, log_path)
        except ProcessDidNotStart as exc:
            print(f"FAIL the server did not start: {exc}", flush=True)
            return 1
        url, process = server.url, server.process
        try:
            try:
                capabilities = declared_capabilities(url)
            except (OSError, ValueError, LookupError, RuntimeError) as exc:  # OSError: urllib's
                print(f"FAIL the server did not answer initialize: {exc!r}", flush=True)
                print_log(log_path)
                return 1
            print(f"server capabilities: {', '.join(sorted(capabilities))}", flush=True)
            must_pass = [*MUST_PASS, *(s for c, s in MUST_PASS_IF_DECLARED.items() if c in capabilities)]
            suite_rc = run_suite(args.node, args.conformance, url, Path(scratch) / "results")
            results = scenario_checks(Path(scratch) / "results")
            if process.poll() is not None:
                print(f"FAIL the server exited (code {process.returncode}) during the suite", flush=True)
                suite_rc = suite_rc or 1
        finally:
            server.stop()
        print("\nscenario verdicts:", flush=True)
        report(baseline, must_pass, results)
        problems = judge(baseline, must_pass, results)
        for problem in problems:
            print(f"FAIL {problem}", flush=True)
        if suite_rc != 0 or problems:
            print_log(log_path)
            print(f"conformance: FAILED (suite exit code {suite_rc}, {len(problems)} more problems)")
            return 1
    print(f"\nconformance: {len(must_pass)} judging scenarios passed; baseline of {len(baseline)} holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
