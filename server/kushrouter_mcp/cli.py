"""Command line: parse arguments, read the environment, hand over to one serve function."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace

from . import __version__
from .settings.config import (
    DEFAULT_GRACEFUL_SECONDS,
    ENVIRONMENT,
    KEY_MODES,
    PER_REQUEST,
    ConfigError,
    HttpSettings,
    Settings,
    parse_list,
    parse_log_level,
    parse_max_body_bytes,
)

DESCRIPTION = """\
An MCP server that lets AI agents audit the token usage of their KushRouter LLM requests.

With no arguments it serves MCP over stdio — what Claude Desktop, Claude Code, Cursor and VS Code
launch. Three tools: extract_generation_id (finds the generation id in a response body or captured
stream; needs no key), get_generation (looks up what KushRouter recorded and billed; needs
KUSHROUTER_API_KEY) and get_generations (up to 500 lookups at once, with usage totals); the
resource kushrouter://generations/{id} and the prompt audit_usage."""

EXAMPLES = """\
commands:
  kushrouter-mcp                          serve MCP over stdio (the default)
  kushrouter-mcp --transport http         serve streamable HTTP at http://127.0.0.1:8000/mcp
  KUSHROUTER_MCP_TOKENS_FILE=/etc/kr-tokens kushrouter-mcp --transport http --host 0.0.0.0
                                          serve a team; callers send Authorization: Bearer <token>
  kushrouter-mcp --transport http --key-mode per-request --host 0.0.0.0 --stateless --workers 4
                                          each caller sends its own kr_… key; scale out, no sticky sessions
  kushrouter-mcp demo                     offline end-to-end demonstration (no key, no network)
  kushrouter-mcp sandbox --port 8787      offline KushRouter-compatible API to develop against

environment:
{environment}
"""


def _environment_help() -> str:
    return "\n".join(
        f"  {name:<34}{meaning} Default: {default}." for name, (default, meaning) in ENVIRONMENT.items()
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kushrouter-mcp",
        description=DESCRIPTION,
        epilog=EXAMPLES.format(environment=_environment_help()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--transport",
        choices=("stdio", "http"),
        default="stdio",
        help="stdio (default) or http: streamable HTTP at /mcp with Host/Origin validation",
    )
    parser.add_argument("--host", default="127.0.0.1", help="HTTP: address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="HTTP: port to listen on (default 8000)")
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        help="HTTP: largest request body; larger ones get 413 "
        "(default KUSHROUTER_MCP_MAX_BODY_BYTES or 33554432 = 32 MiB)",
    )
    parser.add_argument(
        "--log-level", help="log level on stderr (default KUSHROUTER_MCP_LOG_LEVEL or WARNING)"
    )
    _add_team_arguments(parser)
    commands = parser.add_subparsers(dest="command", metavar="{demo,sandbox}")
    commands.add_parser(
        "demo",
        help="run the offline end-to-end demonstration",
        description="Start the sandbox API, start this server over stdio, drive it with an MCP client: "
        "extract an id from a payload of each endpoint family, look each one up, print the usage.",
    )
    sandbox = commands.add_parser(
        "sandbox",
        help="run the offline KushRouter-compatible API",
        description="Serve a KushRouter-compatible generations API on loopback with demo keys, seeded "
        "records and on-demand faults, and print the settings to point this server at it.",
    )
    sandbox.add_argument("--host", dest="sandbox_host", default="127.0.0.1", help="loopback address to bind")
    sandbox.add_argument(
        "--port", dest="sandbox_port", type=int, default=8787, help="port (0 = any free port)"
    )
    sandbox.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every lookup")
    return parser


def _add_team_arguments(parser: argparse.ArgumentParser) -> None:
    team = parser.add_argument_group("HTTP for a team (see README: Deploying for a team)")
    team.add_argument(
        "--key-mode",
        choices=KEY_MODES,
        help="server-key (default; KUSHROUTER_MCP_KEY_MODE): callers present an access token from "
        "KUSHROUTER_MCP_TOKENS(_FILE) and lookups use the server's KUSHROUTER_API_KEY. per-request: "
        "callers present their own KushRouter key as 'Authorization: Bearer kr_…', used for their "
        "calls only (the server sees users' keys: run it behind TLS)",
    )
    team.add_argument(
        "--allowed-hosts",
        help="extra Host header values to accept, comma-separated, e.g. mcp.example.com (default "
        "KUSHROUTER_MCP_ALLOWED_HOSTS; loopback and the bound address are always allowed)",
    )
    team.add_argument(
        "--allowed-origins",
        help="extra browser Origins to accept, comma-separated, e.g. https://mcp.example.com "
        "(default KUSHROUTER_MCP_ALLOWED_ORIGINS)",
    )
    team.add_argument(
        "--stateless",
        action="store_true",
        help="stateless streamable HTTP with JSON responses: any replica or worker answers any "
        "request, no sticky sessions needed. Progress notifications can't be delivered in this mode",
    )
    team.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (default 1; more needs --stateless)"
    )
    team.add_argument(
        "--graceful-timeout",
        type=int,
        default=DEFAULT_GRACEFUL_SECONDS,
        help="on SIGTERM, seconds in-flight calls may take to finish before they are cancelled "
        f"(default {DEFAULT_GRACEFUL_SECONDS}); the process then exits 0",
    )


def _settings(args: argparse.Namespace) -> Settings:
    """The environment's settings, with the command-line flags taking precedence."""
    settings = Settings.from_env()
    if args.max_body_bytes is not None:
        settings = replace(
            settings, max_body_bytes=parse_max_body_bytes(args.max_body_bytes, "--max-body-bytes")
        )
    if args.log_level:
        settings = replace(settings, log_level=parse_log_level(args.log_level, "--log-level"))
    return settings


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.transport == "http":
        _serve_http(args, settings)
        return 0
    from .face.app import serve_stdio
    from .settings.logs import configure_logging

    configure_logging(settings.log_level, [settings.api_key.reveal()] if settings.api_key else [])
    return serve_stdio(settings)


def _http_settings(args: argparse.Namespace) -> HttpSettings:
    http = HttpSettings.from_env()
    if args.key_mode:
        http = replace(http, key_mode=args.key_mode)
    if args.allowed_hosts is not None:
        http = replace(http, allowed_hosts=parse_list(args.allowed_hosts))
    if args.allowed_origins is not None:
        http = replace(http, allowed_origins=parse_list(args.allowed_origins))
    return http


def _check_scaling(args: argparse.Namespace) -> None:
    if not 1 <= args.workers <= 64:
        raise ConfigError(f"--workers {args.workers}: use 1 to 64.")
    if args.workers > 1 and not args.stateless:
        raise ConfigError(
            "--workers above 1 needs --stateless: a session lives in the worker that opened it, and the "
            "next request may reach another one."
        )
    if not 0 <= args.graceful_timeout <= 3600:
        raise ConfigError(f"--graceful-timeout {args.graceful_timeout}: use 0 to 3600 seconds.")


def _serve_http(args: argparse.Namespace, settings: Settings) -> None:
    from .serving.app import MCP_PATH, Serving, exposure_problem, url_host
    from .serving.uvicorn_server import serve_http

    serving = Serving(args.host, _http_settings(args), args.stateless)
    problem = exposure_problem(serving)
    if problem:
        raise ConfigError(problem)
    _check_scaling(args)
    notes = []
    if serving.http.key_mode == PER_REQUEST and (settings.api_key or serving.http.tokens):
        notes.append("per-request mode: KUSHROUTER_API_KEY and access tokens are ignored")
    if not serving.authenticated:
        notes.append("no access tokens configured: any local process may call this server")
    url = f"http://{url_host(args.host)}:{args.port}{MCP_PATH}"
    mode = f"{serving.http.key_mode}{', stateless' if args.stateless else ''}, {args.workers} worker(s)"
    for note in notes:
        print(f"kushrouter-mcp: note: {note}", file=sys.stderr)
    print(f"kushrouter-mcp: serving MCP at {url} ({mode})", file=sys.stderr, flush=True)
    serve_http(settings, serving, args.port, args.workers, args.graceful_timeout)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from .sandbox.demo import run_demo

            return run_demo()
        if args.command == "sandbox":
            from .sandbox.runner import serve_forever

            try:
                return serve_forever(args.sandbox_host, args.sandbox_port, args.latency_ms / 1000)
            except (ValueError, OSError) as error:  # a non-loopback host, a port in use
                raise ConfigError(f"sandbox: {error}") from None
        return _serve(args)
    except ConfigError as error:
        print(f"kushrouter-mcp: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
