"""Command line: parse arguments, read the environment, hand over to one serve function."""

from __future__ import annotations

import argparse
import errno
import re
import socket
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from . import __version__
from .settings.config import PER_REQUEST, ConfigError, HttpSettings, Settings
from .settings.setting import Number
from .settings.table import (
    add_flags,
    environment_help,
    flag_names,
    flags_given,
    guessed_option_answer,
    http_only_flags,
)

DESCRIPTION = """\
An MCP server that lets AI agents audit the token usage of their KushRouter LLM requests.

With no arguments it serves MCP over stdio — what Claude Desktop, Claude Code, Cursor and VS Code
launch. Four tools: extract_generation_id (finds the generation id in a response body or captured
stream; needs no key), get_generation (looks up what KushRouter recorded and billed; needs
KUSHROUTER_API_KEY), get_generations (up to 500 lookups at once, with usage totals) and
usage_report (usage by day, model or endpoint from the ledger: every record looked up is kept in a
local SQLite file); the resource kushrouter://generations/{id} and the prompt audit_usage.
`kushrouter-mcp report` prints the same report, or each generation, as a table, CSV or JSON."""

EXAMPLES = """\
commands:
  kushrouter-mcp                          serve MCP over stdio (the default)
  kushrouter-mcp --transport http         serve streamable HTTP at http://127.0.0.1:8000/mcp
  KUSHROUTER_MCP_TOKENS_FILE=/etc/kr-tokens kushrouter-mcp --transport http --host 0.0.0.0
                                          serve a team; callers send Authorization: Bearer <token>
  kushrouter-mcp --transport http --key-mode per-request --host 0.0.0.0 --stateless --workers 4
                                          each caller sends its own kr_… key; scale out, no sticky sessions
  kushrouter-mcp report --since 30d --by model
                                          what KUSHROUTER_API_KEY's lookups cost, from the ledger
  kushrouter-mcp report --since 2026-11-01 --until 2026-11-30 --records --format csv --output nov.csv
                                          one CSV row per generation of November, for a spreadsheet
  kushrouter-mcp report --refresh         look up again the records that were not final, then report
  kushrouter-mcp demo                     offline end-to-end demonstration (no key, no network)
  kushrouter-mcp sandbox --port 8787      offline KushRouter-compatible API to develop against

environment:
{environment}
"""


REPORT_FORMATS = ("table", "csv", "json", "jsonl")
SANDBOX_PORT = Number(int, 0, 65535, "PORT")  # 0: any free port, which the sandbox prints
_KEY_LIKE = re.compile(r"kr_[^\s'\"]+")  # a key as argparse quotes it


class _Parser(argparse.ArgumentParser):
    """argparse that knows its option names, and ends every usage error with a pointer to --help."""

    def __init__(self, *args: Any, known: set[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.known: set[str] = {"-h", "--help"} if known is None else known

    def option(self, container: argparse.ArgumentParser, *names: str, **options: Any) -> None:
        self.known.update(names)
        container.add_argument(*names, **options)

    def error(self, message: str) -> NoReturn:
        message = _KEY_LIKE.sub("kr_…", message)  # a key given where a command was expected
        self.exit(2, f"kushrouter-mcp: error: {message}; run '{self.prog} --help' for the options\n")


def build_parser() -> _Parser:
    parser = _Parser(
        prog="kushrouter-mcp",
        description=DESCRIPTION,
        epilog=EXAMPLES.format(environment=environment_help()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # `--key kr_…` must not be taken for `--key-mode kr_…`
    )
    parser.option(parser, "--version", action="version", version=f"%(prog)s {__version__}")
    parser.option(
        parser,
        "--transport",
        choices=("stdio", "http"),
        default="stdio",
        help="stdio (default) or http: streamable HTTP at /mcp with Host/Origin validation",
    )
    add_flags(parser)
    parser.known.update(flag_names())
    commands = parser.add_subparsers(dest="command", metavar="{report,demo,sandbox}")
    _add_report(parser, commands)
    commands.add_parser(
        "demo",
        help="run the offline end-to-end demonstration",
        description="Start the sandbox API, start this server over stdio, drive it with an MCP client: "
        "extract an id from a payload of each endpoint family, look each one up, print the usage.",
        known=parser.known,
        allow_abbrev=False,
    )
    sandbox = commands.add_parser(
        "sandbox",
        help="run the offline KushRouter-compatible API",
        description="Serve a KushRouter-compatible generations API on loopback with demo keys, seeded "
        "records and on-demand faults, and print the settings to point this server at it.",
        known=parser.known,
        allow_abbrev=False,
    )
    parser.option(
        sandbox, "--host", dest="sandbox_host", default="127.0.0.1", help="loopback address to bind"
    )
    parser.option(
        sandbox,
        "--port",
        dest="sandbox_port",
        default="8787",
        metavar="PORT",
        help=f"port, {SANDBOX_PORT.allowed()} (0 = any free port; default 8787)",
    )
    parser.option(sandbox, "--latency-ms", type=float, default=0.0, help="delay added to every lookup")
    return parser


def _add_report(parser: _Parser, commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="usage from the ledger, as a table, CSV or JSON",
        description="The usage_report tool's report from the ledger (KUSHROUTER_MCP_LEDGER, or the "
        "default file), for the key in KUSHROUTER_API_KEY: sums by day, model or endpoint, or with "
        "--records one row per generation. Times are UTC and go by when the request was made. The "
        "data goes to stdout or --output; notes go to stderr.",
        known=parser.known,
        allow_abbrev=False,
    )
    times = 'an ISO date or datetime (UTC unless it has an offset), a span back like "7d", "24h", or "now"'
    parser.option(report, "--since", metavar="WHEN", help=f"start, included: {times} (default: 7d)")
    parser.option(
        report, "--until", metavar="WHEN", help=f"end, excluded (a date alone: the end of it): {times}"
    )
    parser.option(
        report,
        "--by",
        metavar="GROUPS",
        help='0 to 2 of day, model, endpoint, comma-separated (default: day,model; "" for the total)',
    )
    parser.option(
        report, "--format", choices=REPORT_FORMATS, default="table", help="table (default), csv, json, jsonl"
    )
    parser.option(report, "--output", metavar="FILE", help="write to FILE (replaced whole) instead of stdout")
    parser.option(report, "--records", action="store_true", help="one row per generation instead of sums")
    parser.option(
        report,
        "--all-keys",
        action="store_true",
        help="every key's rows, told apart by a short key identity (a keyed hash, never the key)",
    )
    parser.option(
        report,
        "--refresh",
        action="store_true",
        help="first look up again the key's records that were not final when seen (last 7 days)",
    )
    parser.option(
        report, "--limit", metavar="N", help="at most N rows (default: every row, up to 10000 groups)"
    )


def _report(args: argparse.Namespace) -> int:
    from .face.report_command import ReportOptions, run_report

    options = ReportOptions(
        args.since,
        args.until,
        args.by,
        args.format,
        args.output,
        args.records,
        args.all_keys,
        args.refresh,
        args.limit,
    )
    return run_report(options, Settings.from_env(flags=flags_given(args)))


def _unknown_option(argv: Sequence[str], known: set[str]) -> str | None:
    """What to say about the first option that doesn't exist; guessed ones point to their variable.

    Checked before argparse, which would take the value after an unknown option for a command and
    answer "invalid choice: 'kr_…'", echoing a key.
    """
    for word in argv:
        if word == "--":
            break
        name = word.split("=", 1)[0]
        if word.startswith("--") and name not in known:
            return guessed_option_answer(word) or (
                f"unrecognized arguments: {name}; run 'kushrouter-mcp --help' for the options"
            )
    return None


def _serve(args: argparse.Namespace) -> int:
    given = flags_given(args)
    if args.transport != "http" and (http_flags := http_only_flags(given)):
        names = " and ".join(http_flags)
        verb, pronoun = ("is", "it") if len(http_flags) == 1 else ("are", "them")
        raise ConfigError(
            f"{names} {verb} for --transport http only: add --transport http, or drop {pronoun}."
        )
    settings = Settings.from_env(flags=given)
    if args.transport == "http":
        _serve_http(settings, HttpSettings.from_env(flags=given))
        return 0
    from .face.app import serve_stdio
    from .settings.logs import configure_logging

    configure_logging(settings.log_level, settings.log_secrets())
    return serve_stdio(settings)


def _bind_failure(error: OSError, host: str, port: int) -> ConfigError:
    """A failed bind as one line that says what to change."""
    if isinstance(error, socket.gaierror):
        return ConfigError(f"--host {host}: no such address ({error.strerror}); give an IP address.")
    if error.errno == errno.EADDRINUSE:
        return ConfigError(f"port {port} is in use: pick another with --port.")
    if error.errno == errno.EACCES:
        return ConfigError(f"port {port} needs privileges here: pick one above 1023 with --port.")
    if error.errno == errno.EADDRNOTAVAIL:
        return ConfigError(f"--host {host} is not an address of this machine: use one of its addresses.")
    return ConfigError(f"cannot listen on {host} port {port} ({error.strerror or error}).")


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything says "serving" (as uvicorn's bind_socket binds it).

    Bound, not yet listening: uvicorn listens once the app is ready, so until then a connection is
    refused rather than queued, and a readiness probe that connects still means "ready".
    """
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise _bind_failure(error, host, port) from None
    listener.set_inheritable(True)  # worker processes serve it too
    return listener


def _serve_http(settings: Settings, http: HttpSettings) -> None:
    from .serving.app import MCP_PATH, Serving, exposure_problem, url_host
    from .serving.uvicorn_server import serve_http

    serving = Serving(http.host, http, http.stateless)
    problem = exposure_problem(serving)
    if problem:
        raise ConfigError(problem)
    notes = []
    if http.key_mode == PER_REQUEST and (settings.api_key or http.tokens):
        notes.append("per-request mode: KUSHROUTER_API_KEY and access tokens are ignored")
    if not serving.authenticated:
        notes.append("no access tokens configured: any local process may call this server")
    listener = _listen(http.host, http.port)
    url = f"http://{url_host(http.host)}:{http.port}{MCP_PATH}"
    mode = f"{http.key_mode}{', stateless' if http.stateless else ''}, {http.workers} worker(s)"
    for note in notes:
        print(f"kushrouter-mcp: note: {note}", file=sys.stderr)
    print(f"kushrouter-mcp: serving MCP at {url} ({mode})", file=sys.stderr, flush=True)
    serve_http(settings, serving, listener, http.workers, http.graceful_seconds)


def _serve_sandbox(args: argparse.Namespace) -> int:
    from .sandbox.runner import serve_forever

    port = SANDBOX_PORT.parse(args.sandbox_port.strip(), f"sandbox --port {args.sandbox_port}")
    try:
        return serve_forever(args.sandbox_host, port, args.latency_ms / 1000)
    except OSError as error:
        raise ConfigError(f"sandbox: {_bind_failure(error, args.sandbox_host, port)}") from None
    except ValueError as error:  # a non-loopback host
        raise ConfigError(f"sandbox: {error}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = sys.argv[1:] if argv is None else list(argv)
    problem = _unknown_option(arguments, parser.known)
    try:
        if problem:
            raise ConfigError(problem)
        args = parser.parse_args(arguments)
        if args.command == "demo":
            from .sandbox.demo import run_demo

            return run_demo()
        if args.command == "sandbox":
            return _serve_sandbox(args)
        if args.command == "report":
            return _report(args)
        return _serve(args)
    except ConfigError as error:
        print(f"kushrouter-mcp: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
