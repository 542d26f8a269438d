"""The MCP server: an app factory, a lifespan holding the shared API client, tools, a resource, a prompt."""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any

import anyio
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from .. import __version__
from ..extraction.results import ExtractionResult
from ..ledger import Ledger, ledger_for
from ..ledger.ledger import EXIT_FLUSH_SECONDS
from ..records.models import Generation
from ..reports.periods import DEFAULT_GROUP_BY, DEFAULT_LIMIT
from ..settings.config import Settings
from ..settings.keys import ApiKey, KeySource, is_caller_key_principal
from ..upstream.batch import Progress, RecordLookup
from ..upstream.client import GenerationsApi
from . import contracts, dashboard, prompts, tools
from .contracts import BatchResult, UsageReport
from .costs import Costs, costs_for, served_lookups
from .stopping import AnswerStoppedCalls, stop_budget

SERVER_NAME = "kushrouter"
INSTRUCTIONS = (
    "Audit the token usage of LLM requests made through KushRouter. To check a request: pass its "
    "response body or captured stream to extract_generation_id, then pass the id to get_generation to "
    "see what KushRouter recorded and billed and what that cost at list prices (compare it with the "
    "usage the payload reported). For many requests at once, pass all their ids to get_generations: it "
    "sums the billed usage and its estimated cost by model and endpoint. For usage over days or weeks "
    "(records KushRouter no longer keeps included), usage_report sums every record this server has looked "
    "up with your key, from its local ledger. The audit_usage prompt walks through a whole audit."
)
RESOURCE_TEMPLATE = "kushrouter://generations/{id}"


@dataclass
class AppState:
    """What the lifespan yields: settings, the API client over one shared connection pool, and the
    lookups the tools use (the client's, priced as they pass unless estimates are off, and kept in
    the ledger unless it is off)."""

    settings: Settings
    api: GenerationsApi
    costs: Costs | None
    records: RecordLookup
    ledger: Ledger | None


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


def caller_key(access_token: AccessToken | None) -> ApiKey | None:
    """The caller's KushRouter key from the request's verified access token (per-request mode)."""
    if access_token is None or not is_caller_key_principal(access_token.client_id):
        return None
    return ApiKey(access_token.token, KeySource.CALLER)


def _read_only_tool(title: str, description: str, open_world: bool) -> dict[str, Any]:
    """The tools only read: safe to call again, nothing changes anywhere."""
    annotations = ToolAnnotations(
        title=title, read_only_hint=True, idempotent_hint=True, open_world_hint=open_world
    )
    return {"title": title, "description": description, "annotations": annotations}


class _FromSettings(Enum):
    LEDGER = "the ledger the settings name"


FROM_SETTINGS = _FromSettings.LEDGER


def create_server(
    settings: Settings,
    token_verifier: TokenVerifier | None = None,
    auth: AuthSettings | None = None,
    ledger: Ledger | _FromSettings | None = FROM_SETTINGS,
) -> MCPServer[AppState]:
    """The server; over HTTP, `token_verifier` and `auth` make every request authenticate. `ledger`:
    the one the settings name unless the caller made it (HTTP serving does, for /healthz)."""
    costs = costs_for(settings)  # made here, not per session: every session shares its memos
    if ledger is FROM_SETTINGS:
        ledger = ledger_for(settings)  # likewise: one writer per process

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        # Everything alive now (the SDK, our modules, the schemas) lives as long as the process:
        # frozen, no garbage collection traverses it again while calls are served.
        gc.freeze()
        api = GenerationsApi(settings)  # its HTTP client is made on the first lookup
        try:
            yield AppState(settings, api, costs, served_lookups(api, costs, ledger), ledger)
        finally:
            await _write_out(ledger)
            await api.aclose()

    # The two tools whose results the usage dashboard draws, for hosts that render MCP Apps views.
    apps = dashboard.apps()

    @apps.tool(
        resource_uri=dashboard.RESOURCE_URI,
        **_read_only_tool("Look up many KushRouter generations", contracts.GET_GENERATIONS_DESCRIPTION, True),
    )
    async def get_generations(
        ids: contracts.IdsArgument,
        ctx: Context[AppState],
        wait_seconds: contracts.WaitSecondsArgument = 0,
    ) -> Annotated[CallToolResult, BatchResult]:
        state = _state(ctx)
        return await tools.get_generations(
            state.records, ids, _api_key(ctx), wait_seconds, state.settings.batch_concurrency, _progress(ctx)
        )

    @apps.tool(
        resource_uri=dashboard.RESOURCE_URI,
        **_read_only_tool("Report usage from the ledger", contracts.USAGE_REPORT_DESCRIPTION, False),
    )
    async def usage_report(
        ctx: Context[AppState],
        since: contracts.SinceArgument = None,
        until: contracts.UntilArgument = None,
        group_by: contracts.GroupByArgument = DEFAULT_GROUP_BY,
        limit: contracts.LimitArgument = DEFAULT_LIMIT,
    ) -> Annotated[CallToolResult, UsageReport]:
        return await tools.usage_report(_state(ctx).ledger, _api_key(ctx), since, until, group_by, limit)

    server: MCPServer[AppState] = MCPServer(
        SERVER_NAME,
        title="KushRouter generations",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        log_level=settings.log_level,  # type: ignore[arg-type]
        token_verifier=token_verifier,
        auth=auth,
        middleware=[AnswerStoppedCalls()],  # a call cut short by a stop gets an answer saying so
        extensions=[apps],  # the tools bound above, the dashboard page, and the extension advertised
    )

    @server.tool(
        **_read_only_tool("Look up a KushRouter generation", contracts.GET_GENERATION_DESCRIPTION, True)
    )
    async def get_generation(
        id: contracts.GenerationIdArgument,  # the API's own parameter name
        ctx: Context[AppState],
        wait_seconds: contracts.WaitSecondsArgument = 0,
    ) -> Annotated[CallToolResult, Generation]:
        return await tools.get_generation(_state(ctx).records, id, _api_key(ctx), wait_seconds)

    @server.tool(
        **_read_only_tool("Find the generation id in a response", contracts.EXTRACT_DESCRIPTION, False)
    )
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
        state = _state(ctx)
        return tools.extract_generation_id(payload, state.settings.max_payload_chars, state.costs)

    @server.resource(
        RESOURCE_TEMPLATE,
        name="generation",
        title="KushRouter generation record",
        description="The KushRouter record of one generation (as get_generation returns it), as JSON.",
        mime_type="application/json",
    )
    async def generation(id: str, ctx: Context[AppState]) -> str:
        record = await tools.read_generation(_state(ctx).records, id, _api_key(ctx))
        return json.dumps(record)

    server.prompt(name="audit_usage", title="Audit token usage", description=prompts.AUDIT_USAGE_DESCRIPTION)(
        prompts.audit_usage
    )

    return server


async def _write_out(ledger: Ledger | None) -> None:
    """The server stops (stdin closed, SIGTERM): its queued rows are written first, in what is left
    of the stop's graceful timeout (over HTTP), or EXIT_FLUSH_SECONDS at least."""
    if ledger is None:
        return
    with anyio.CancelScope(shield=True):  # a stop by signal cancels the lifespan's scope around it
        await anyio.to_thread.run_sync(ledger.write_out, stop_budget(EXIT_FLUSH_SECONDS))


def _progress(ctx: Context[AppState]) -> Progress:
    async def report(done: int, total: int) -> None:
        # A no-op unless the client sent a progress token with the call.
        await ctx.report_progress(done, total, f"{done} of {total} ids looked up")

    return report


def serve_stdio(settings: Settings) -> int:
    """Serve over stdio until stdin closes or SIGINT/SIGTERM; the exit code (see face/stdio.py)."""
    from . import stdio  # only the stdio server needs it

    exit_code = stdio.serve(create_server(settings))
    # The process ends next. Skip the interpreter's final garbage collections: with the SDK loaded they
    # took over a second on a busy machine (a stop is due within two); nothing left needs them.
    gc.freeze()
    return exit_code
