"""Streamable HTTP serving: Host/Origin validation, a bounded request body, uvicorn.

Kept apart from `server` so stdio users (every IDE launch) never import any of it.
"""

from __future__ import annotations

import json

from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .config import Settings
from .server import create_server

MCP_PATH = "/mcp"


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
