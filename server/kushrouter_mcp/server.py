"""The MCP server: one app factory, a lifespan holding the shared HTTP client, two tools."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from . import __version__, tools
from .api import GenerationsApi
from .auth import caller_key
from .config import ApiKey, Settings
from .models import ExtractionResult, Generation
from .validation import GENERATION_ID_SCHEMA

SERVER_NAME = "kushrouter"
INSTRUCTIONS = (
    "Audit the token usage of LLM requests made through KushRouter. To check a request: pass its "
    "response body or captured stream to extract_generation_id, then pass the id to get_generation to "
    "see what KushRouter recorded and billed (compare it with the usage the payload reported)."
)


@dataclass
class AppState:
    """What the lifespan yields: settings and the API client over one shared connection pool."""

    settings: Settings
    api: GenerationsApi


def _state(ctx: Context[AppState]) -> AppState:
    state: AppState = ctx.request_context.lifespan_context
    return state


def _api_key(ctx: Context[AppState]) -> ApiKey | None:
    """The KushRouter key this request's upstream calls use.

    Over HTTP in per-request mode, the caller's own key from this request's verified bearer
    (request-scoped: the SDK sets it per HTTP request and resets it after); otherwise the key
    configured for the server.
    """
    return caller_key(get_access_token()) or _state(ctx).settings.api_key


def _read_only_tool(title: str, description: str, open_world: bool) -> dict[str, Any]:
    """Both tools only read: safe to call again, nothing changes anywhere."""
    annotations = ToolAnnotations(
        title=title, read_only_hint=True, idempotent_hint=True, open_world_hint=open_world
    )
    return {"title": title, "description": description, "annotations": annotations}


def create_server(
    settings: Settings, token_verifier: TokenVerifier | None = None, auth: AuthSettings | None = None
) -> MCPServer[AppState]:
    """The server; over HTTP, `token_verifier` and `auth` make every request authenticate."""

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
        token_verifier=token_verifier,
        auth=auth,
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
        return await tools.get_generation(_state(ctx).api, id, _api_key(ctx))

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


def serve_stdio(settings: Settings) -> None:
    create_server(settings).run("stdio")
