"""Command line: parse arguments, read the environment, hand over to one serve function."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace

from . import __version__
from .config import ENVIRONMENT, ConfigError, Settings, parse_log_level, parse_max_body_bytes

DESCRIPTION = """\
An MCP server that lets AI agents audit the token usage of their KushRouter LLM requests.

With no arguments it serves MCP over stdio — what Claude Desktop, Claude Code, Cursor and VS Code
launch. Two tools: extract_generation_id (finds the generation id in a response body or captured
stream; needs no key) and get_generation (looks up what KushRouter recorded and billed; needs
KUSHROUTER_API_KEY)."""

EXAMPLES = """\
commands:
  kushrouter-mcp                          serve MCP over stdio (the default)
  kushrouter-mcp --transport http         serve streamable HTTP at http://127.0.0.1:8000/mcp
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
    from .logs import configure_logging

    settings = _settings(args)
    configure_logging(settings.log_level, [settings.api_key.reveal()] if settings.api_key else [])
    if args.transport == "stdio":
        from .server import serve_stdio

        serve_stdio(settings)
        return 0
    from .http_app import LOOPBACK_HOSTS, MCP_PATH, serve_http, url_host

    if args.host not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"Refusing to serve on {args.host}: this server has no client authentication yet, so anyone who "
            "can reach it could read generations with your key. Bind to 127.0.0.1 (the default) and put a "
            "reverse proxy or SSH tunnel in front of it."
        )
    url = f"http://{url_host(args.host)}:{args.port}{MCP_PATH}"
    print(f"kushrouter-mcp: serving MCP at {url}", file=sys.stderr, flush=True)
    serve_http(settings, args.host, args.port)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run_demo

            return run_demo()
        if args.command == "sandbox":
            from .sandbox import serve_forever

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
