"""The MCP server: one app factory, a lifespan holding the shared HTTP client, two tools."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from . import __version__, tools
from .api import GenerationsApi
from .config import Settings
from .models import ExtractionResult, Generation
from .validation import GENERATION_ID_SCHEMA

SERVER_NAME = "kushrouter"
INSTRUCTIONS = (
    "Audit the token usage of LLM requests made through KushRouter. To check a request: pass its "
    "response body or captured stream to extract_generation_id, then pass the id to get_generation to "
    "see what KushRouter recorded and billed (compare it with the usage the payload reported)."
)
MCP_PATH = "/mcp"


@dataclass
class AppState:
    """What the lifespan yields: settings and the API client over one shared connection pool."""

    settings: Settings
    api: GenerationsApi


def _state(ctx: Context[AppState]) -> AppState:
    state: AppState = ctx.request_context.lifespan_context
    return state


def _read_only_tool(title: str, description: str, open_world: bool) -> dict[str, Any]:
    """Both tools only read: safe to call again, nothing changes anywhere."""
    annotations = ToolAnnotations(
        title=title, read_only_hint=True, idempotent_hint=True, open_world_hint=open_world
    )
    return {"title": title, "description": description, "annotations": annotations}


def create_server(settings: Settings) -> MCPServer[AppState]:
    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        api = GenerationsApi(settings)  # its HTTP client is made on the first lookup
        try:
            yield AppState(settings, api)
        finally:
            await api.aclose()

    server: MCPServer[AppState] = MCPServer(
        SERVER_NAME,
        title="KushRouter generations",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        log_level=settings.log_level,  # type: ignore[arg-type]
    )

    @server.tool(**_read_only_tool("Look up a KushRouter generation", tools.GET_GENERATION_DESCRIPTION, True))
    async def get_generation(
        # Typed loosely on purpose: the schema still says string, but a wrong type reaches our
        # own check and gets a plain-words answer instead of a pydantic dump.
        id: Annotated[  # the API's own parameter name
            object,
            Field(
                description="Generation id from the response: chatcmpl-…, resp_… or msg_…. "
                "1 to 256 characters, no whitespace or control characters.",
                json_schema_extra=GENERATION_ID_SCHEMA,
            ),
        ],
        ctx: Context[AppState],
    ) -> Annotated[CallToolResult, Generation]:
        return await tools.get_generation(_state(ctx).api, id)

    @server.tool(**_read_only_tool("Find the generation id in a response", tools.EXTRACT_DESCRIPTION, False))
    def extract_generation_id(
        payload: Annotated[
            str | dict[str, Any] | list[Any],
            Field(
                description="The response body, captured stream or log as you have it: raw text "
                "(JSON, SSE, NDJSON, Markdown with JSON) or already-parsed JSON. Pass it unedited.",
            ),
        ],
        ctx: Context[AppState],
    ) -> Annotated[CallToolResult, ExtractionResult]:
        # A sync tool runs in a worker thread, so a large payload never stalls other calls.
        return tools.extract_generation_id(payload, _state(ctx).settings.max_payload_chars)

    return server


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def url_host(host: str) -> str:
    """The host as it stands in a URL or a Host header: IPv6 literals in brackets."""
    return f"[{host}]" if ":" in host else host


def transport_security(host: str) -> TransportSecuritySettings:
    """Host/Origin validation on for every bind address (the SDK turns it on only for loopback).

    Loopback names and the bound address are allowed with any port, and without one (a
    reverse proxy on port 80 sends a bare Host); any other Host gets 421, any other Origin 403.
    """
    names = {url_host(name) for name in (*LOOPBACK_HOSTS, host)}
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=sorted(names | {f"{name}:*" for name in names}),
        allowed_origins=sorted(
            f"{scheme}://{name}{any_port}"
            for name in names
            for scheme in ("http", "https")
            for any_port in ("", ":*")
        ),
    )


def serve_stdio(settings: Settings) -> None:
    create_server(settings).run("stdio")


class BodySizeLimit:
    """Answers a body declared over the limit with a 413 that names the limit and how to raise it.

    The SDK's own check stays behind it for bodies sent without a Content-Length.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or ()) if scope["type"] == "http" else {}
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            message = (
                f"Request body too large: {int(declared):,} bytes, over this server's limit of "
                f"{self.limit:,} bytes. Send a smaller payload, or raise the limit with --max-body-bytes or "
                "KUSHROUTER_MCP_MAX_BODY_BYTES."
            )
            body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}})
            response = Response(body.encode(), status_code=413, media_type="application/json")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def http_app(settings: Settings, host: str) -> ASGIApp:
    """The streamable HTTP app at /mcp: Host/Origin validation on, request bodies bounded."""
    app = create_server(settings).streamable_http_app(
        streamable_http_path=MCP_PATH,
        max_request_body_size=settings.max_body_bytes,
        transport_security=transport_security(host),
        host=host,
    )
    return BodySizeLimit(app, settings.max_body_bytes)


def serve_http(settings: Settings, host: str, port: int) -> None:
    """Serve http_app with uvicorn; imported lazily so stdio users never pay for it."""
    import uvicorn

    config = uvicorn.Config(
        http_app(settings, host),
        host=host,
        port=port,
        log_config=None,  # keep our stderr handler; uvicorn's default would log access to stdout
        access_log=False,
        log_level=settings.log_level.lower(),
        lifespan="on",
    )
    uvicorn.Server(config).run()
