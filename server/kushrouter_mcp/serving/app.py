"""Streamable HTTP serving: authentication, Host/Origin validation, a bounded body, uvicorn.

Kept apart from `server` so stdio users (every IDE launch) never import any of it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import anyio
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..face.app import create_server
from ..ledger import Ledger, ledger_for, ledger_health
from ..library_internals.http_stack import is_session_era
from ..settings.config import PER_REQUEST, HttpSettings, Settings
from .auth import auth_settings, token_verifier
from .callers import CallerGate

MCP_PATH = "/mcp"
HEALTH_PATH = "/healthz"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def url_host(host: str) -> str:
    """The host as it stands in a URL or a Host header: IPv6 literals in brackets."""
    return f"[{host}]" if ":" in host else host


def transport_security(
    host: str, extra_hosts: tuple[str, ...] = (), extra_origins: tuple[str, ...] = ()
) -> TransportSecuritySettings:
    """Host/Origin validation on for every bind address (the SDK turns it on only for loopback).

    Loopback names and the bound address are allowed with any port, and without one (a
    reverse proxy on port 80 sends a bare Host); so are the operator's extra hosts and origins
    (a proxy's public name). Any other Host gets 421, any other Origin 403.
    """
    names = {url_host(name) for name in (*LOOPBACK_HOSTS, host)}
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=sorted(names | {f"{name}:*" for name in names} | set(extra_hosts)),
        allowed_origins=sorted(
            {
                f"{scheme}://{name}{any_port}"
                for name in names
                for scheme in ("http", "https")
                for any_port in ("", ":*")
            }
            | set(extra_origins)
        ),
    )


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


@dataclass(frozen=True)
class Serving:
    """How this process serves HTTP: where, in which key mode, stateful or not."""

    host: str
    http: HttpSettings
    stateless: bool = False

    @property
    def authenticated(self) -> bool:
        return self.http.key_mode == PER_REQUEST or bool(self.http.tokens)


def exposure_problem(serving: Serving) -> str | None:
    """Why serving would expose the server's key to anyone who can connect, or None when it's safe."""
    if serving.host in LOOPBACK_HOSTS or serving.authenticated:
        return None
    return (
        f"Refusing to serve on {serving.host} without authentication: anyone who can reach it could read "
        "generations with this server's key. Either set access tokens (KUSHROUTER_MCP_TOKENS=tok1,tok2 or "
        "KUSHROUTER_MCP_TOKENS_FILE=/path) that clients send as 'Authorization: Bearer <token>', or use "
        "--key-mode per-request so each client sends its own KushRouter key, or bind to 127.0.0.1 (the "
        "default) behind a reverse proxy or SSH tunnel."
    )


def _healthz(ledger: Ledger | None) -> Callable[[Request], Awaitable[Response]]:
    """Liveness, and the ledger's health: no auth, no upstream call, no database query, so a load
    balancer's probe costs nothing. Always 200 while the process serves: a ledger that can't be
    written leaves lookups as they were, so pulling the replica would only lose answers."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "ledger": ledger_health(ledger).as_json()})

    return healthz


class _PostMiddleware:
    """Middleware that acts on POSTs (where JSON-RPC messages travel) and passes the rest through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        await self.post(scope, receive, send)

    async def post(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class CallsInFlight(_PostMiddleware):
    """Counts POSTs being answered (tool calls among them): what a graceful shutdown waits for.

    GETs are left out: a client's standalone SSE stream stays open for as long as it likes.
    """

    count = 0

    async def post(self, scope: Scope, receive: Receive, send: Send) -> None:
        CallsInFlight.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            CallsInFlight.count -= 1


# A request this large or larger on a stateful session is let go of once answered (below).
LARGE_REQUEST_BYTES = 16 * 1024
# An initialize request is a few hundred bytes; what it says is kept for the session's life.
OPENING_REQUEST_LIMIT = 64 * 1024
_SESSION_HEADER = b"mcp-session-id"
_VERSION_HEADER = b"mcp-protocol-version"
# A JSON-RPC response to a request the server never sent: the SDK drops it without a word.
_RELEASE_MESSAGE = b'{"jsonrpc":"2.0","id":"kushrouter-mcp/release","result":{}}'
_RELEASE_HEADERS = (b"host", b"authorization", b"origin", _VERSION_HEADER, _SESSION_HEADER)


def _json_rpc_error(status: int, message: str, code: int = -32600) -> Response:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}})
    return Response(body.encode(), status_code=status, media_type="application/json")


async def _body_up_to(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it passes `limit` bytes (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class SessionMemoryBounds(_PostMiddleware):
    """Bounds what an idle stateful session holds in memory.

    - The request that opens a session (an initialize) may be at most OPENING_REQUEST_LIMIT
      bytes: the session keeps what it says (client name, description, capabilities) for its life.
    - The SDK's session loop keeps the last message it received (and, through it, the HTTP
      request with its whole body) until the next one arrives: an idle session held its last
      request, 32 MiB each, for up to the idle timeout. After answering a request of
      LARGE_REQUEST_BYTES or more, this sends the session a tiny message of its own, which takes
      the big one's place.
    """

    async def post(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        session_id = headers.get(_SESSION_HEADER)
        version = headers.get(_VERSION_HEADER)
        if session_id is None and is_session_era(None if version is None else version.decode("latin-1")):
            await self._open_session(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        await self.app(scope, counting_receive, send)
        if received >= LARGE_REQUEST_BYTES and session_id is not None:
            await self._release(scope, session_id)

    async def _open_session(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _body_up_to(receive, OPENING_REQUEST_LIMIT)
        if body is None:
            message = (
                "A request without an Mcp-Session-Id opens a session and must be an initialize request "
                f"of at most {OPENING_REQUEST_LIMIT:,} bytes. Send initialize first, then this request "
                "with the Mcp-Session-Id header from its answer."
            )
            await _json_rpc_error(413, message)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _release(self, scope: Scope, session_id: bytes) -> None:
        """Post the release message to the session as its own client would, and drop the answer."""
        kept = [(name, value) for name, value in scope["headers"] if name in _RELEASE_HEADERS]
        headers = [
            *kept,
            (b"content-type", b"application/json"),
            (b"accept", b"application/json, text/event-stream"),
            (b"content-length", str(len(_RELEASE_MESSAGE)).encode()),
        ]
        sent = False

        async def receive_release() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": _RELEASE_MESSAGE, "more_body": False}

        async def discard(_: Message) -> None:
            pass

        release_scope = {**scope, "headers": headers, "state": {}}
        with anyio.CancelScope(shield=True):  # it must happen even if the caller hung up meanwhile
            await self.app(release_scope, receive_release, discard)


def http_app(settings: Settings, serving: Serving) -> ASGIApp:
    """The streamable HTTP app at /mcp plus /healthz, authenticated as the key mode says."""
    if serving.http.key_mode == PER_REQUEST:
        settings = replace(settings, api_key=None)  # only callers' keys are ever used
    verifier = token_verifier(serving.http.key_mode, serving.http.tokens) if serving.authenticated else None
    auth = auth_settings(f"http://{url_host(serving.host)}") if verifier else None
    ledger = ledger_for(settings)  # made here so that /healthz can see it
    server = create_server(settings, token_verifier=verifier, auth=auth, ledger=ledger)
    server.custom_route(HEALTH_PATH, methods=["GET"])(_healthz(ledger))
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        # Stateless: no session to find, so any replica or worker can answer any request; JSON
        # answers because no later request could pick up an SSE stream left behind.
        stateless_http=serving.stateless,
        json_response=serving.stateless,
        max_request_body_size=settings.max_body_bytes,
        session_idle_timeout=serving.http.session_idle_seconds,
        max_sessions=serving.http.max_sessions,
        transport_security=transport_security(
            serving.host, serving.http.allowed_hosts, serving.http.allowed_origins
        ),
        host=serving.host,
    )
    if not serving.stateless:
        app = SessionMemoryBounds(app)
    if verifier is not None:
        sessions = None if serving.stateless else server.session_manager
        app = CallerGate(app, MCP_PATH, verifier, serving.http, settings, sessions)
    return CallsInFlight(BodySizeLimit(app, settings.max_body_bytes))
