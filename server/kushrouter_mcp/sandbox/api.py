"""The sandbox's HTTP app: a KushRouter-compatible generations API with faults on demand.

The project's tests, its demo and offline users point the MCP server at it through
``KUSHROUTER_BASE_URL``. It serves fake seeded records only and binds loopback addresses only.
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from http.client import responses as http_phrases
from typing import Any, Final
from urllib.parse import parse_qsl

import anyio
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..library_internals.http_stack import HookedH11Protocol
from .samples import API_KEY_IDS, KEY_OWNERS, SEED_RECORDS, chat_record

# --- Faults -----------------------------------------------------------------------------------------

ERROR_MESSAGES: Final[dict[int, str]] = {
    400: "Bad request",
    401: "Invalid API key",
    402: "Insufficient credits",
    403: "Forbidden",
    404: "Generation not found",
    413: "Payload too large",
    429: "Rate limit exceeded (key)",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service temporarily unavailable",
    504: "Gateway timeout",
}
_MAGIC_STATUSES: Final[dict[str, int]] = {f"sandbox-status-{code}": code for code in ERROR_MESSAGES}
_CAPTIVE_PORTAL: Final = (
    b"<!DOCTYPE html><html><head><title>Sign in to network</title></head><body>"
    b"<h1>Network login required</h1><p>Sign in to continue to the Internet.</p></body></html>"
)
# Magic ids answered 200 with a fixed body (content, media type).
CANNED_ANSWERS: Final[dict[str, tuple[bytes, str]]] = {
    "sandbox-malformed-json": (b'{"success": true, "generation": {', "application/json"),
    "sandbox-wrong-shape": (b'{"success": true, "data": []}', "application/json"),
    "sandbox-success-false": (b'{"success": false, "error": "Generation lookup failed"}', "application/json"),
    "sandbox-html": (_CAPTIVE_PORTAL, "text/html"),
}
_SLOW_ID: Final = re.compile(r"sandbox-slow-(\d+(?:\.\d+)?)")
_HEADER_VALUE: Final = re.compile(r"[\x20-\x7e]*")


def _check_seconds(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")


def _check_owner(owner: str) -> None:
    if owner not in API_KEY_IDS:
        raise ValueError(f"owner must be one of {', '.join(API_KEY_IDS)}, got {owner!r}")


def _check_header_value(name: str, value: str) -> None:
    # A CR or LF would let the value smuggle headers of its own into the response.
    if not _HEADER_VALUE.fullmatch(value):
        raise ValueError(f"{name} must be printable ASCII")


@dataclass(slots=True)
class _Fault:
    status: int
    remaining: int
    retry_after: str | None
    body: bytes | None
    delay: float


@dataclass(frozen=True, slots=True)
class _Storm:
    until: float  # time.monotonic()
    retry_after: str
    owner: str | None  # None: every key


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One request the sandbox received. The API key itself is never kept, only whose it was."""

    method: str
    path: str
    raw_query: str
    query: list[tuple[str, str]]
    key_owner: str | None  # "alice", "bob", "unknown" (any other Authorization), None (no header)


class SandboxState:
    """What tests and users can change or inspect on a sandbox. Safe to use from any thread."""

    def __init__(self) -> None:
        self.latency_seconds = 0.0
        self.requests: list[ReceivedRequest] = []
        self.storm_hits: list[float] = []  # time.monotonic() of each lookup the storm answered 429
        self._faults: deque[_Fault] = deque()
        self._storm: _Storm | None = None
        self._published: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()  # the server thread pops faults while a test thread adds them

    @property
    def request_count(self) -> int:
        """Requests received (control endpoints aside) since the last reset."""
        return len(self.requests)

    def publish(
        self, gen_id: str, after_seconds: float = 0.0, owner: str = "alice", **fields: Any
    ) -> dict[str, Any]:
        """Add a Chat Completions record for `owner` that lookups find only `after_seconds` from now.

        Until then it is a 404, as a record the real API has not written yet. `fields` replace the
        record's own (created_at, model, endpoint, usage, status…); publishing an id again replaces
        its record, as the API's record of a request changes until it is final.
        """
        _check_owner(owner)
        _check_seconds("after_seconds", after_seconds)
        if {"id", "apiKeyId"} & fields.keys():
            raise ValueError("the id and the owner are publish's own arguments, not fields")
        record = {**chat_record(gen_id, API_KEY_IDS[owner]), **fields}
        with self._lock:
            self._published[gen_id] = (time.monotonic() + after_seconds, record)
        return record

    def published(self, gen_id: str) -> dict[str, Any] | None:
        """The published record for `gen_id` if its time has come."""
        entry = self._published.get(gen_id)
        if entry is None or time.monotonic() < entry[0]:
            return None
        return entry[1]

    def start_storm(self, seconds: float, retry_after: str = "1", owner: str | None = None) -> None:
        """Answer every generation lookup (only `owner`'s, if given) 429 for the next `seconds`."""
        _check_seconds("seconds", seconds)
        _check_header_value("retry_after", retry_after)
        if owner is not None:
            _check_owner(owner)
        self._storm = _Storm(time.monotonic() + seconds, retry_after, owner)

    def storm_answer(self, owner: str) -> _Storm | None:
        """The storm, if one is raging for `owner` now (and count the hit)."""
        storm = self._storm
        if storm is None or time.monotonic() >= storm.until or storm.owner not in (None, owner):
            return None
        self.storm_hits.append(time.monotonic())
        return storm

    def add_fault(
        self,
        status: int,
        times: int = 1,
        retry_after: str | None = None,
        body: bytes | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` authenticated generation lookups with `status` (after `delay` s)."""
        if not 200 <= status <= 599:
            raise ValueError(f"status must be 200-599, got {status}")
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        _check_seconds("delay", delay)
        if retry_after is not None:
            _check_header_value("retry_after", retry_after)
        with self._lock:
            self._faults.append(_Fault(status, times, retry_after, body, delay))

    def next_fault(self) -> _Fault | None:
        """Take one use of the oldest queued fault, if any."""
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.remaining -= 1
            if fault.remaining == 0:
                self._faults.popleft()
            return fault

    def reset(self) -> None:
        """Forget queued faults, storms, published records, injected latency and the request log."""
        with self._lock:
            self._faults.clear()
            self._published.clear()
        self._storm = None
        self.latency_seconds = 0.0
        self.requests.clear()
        self.storm_hits.clear()


# --- HTTP app ---------------------------------------------------------------------------------------

_GENERATIONS_PATH: Final = "/api/v1/generations"
_CONTROL_PREFIX: Final = "/_sandbox/"
_RESET_HOOK: Final = "kushrouter_sandbox.reset_connection"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _fault_answer(status: int, retry_after: str | None = None, body: bytes | None = None) -> Response:
    """An answer with `status` as the API gives it: `body`, or else {"error": <its message>}.

    Every 429 (queued fault, storm, magic id) has the rate-limit headers; Retry-After only if given.
    """
    headers: dict[str, str] = {}
    if status == 429:
        headers = {
            "X-RateLimit-Limit": "60",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + 1),
        }
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if body is None:
        message = ERROR_MESSAGES.get(status) or http_phrases.get(status, "Error")
        return _error(status, message, headers)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def _key_owner(authorization: str | None) -> str | None:
    """alice/bob for their Bearer key, "unknown" for any other Authorization, None without one."""
    if authorization is None:
        return None
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return "unknown"
    return KEY_OWNERS.get(key.strip(), "unknown")


def _received(scope: Scope) -> ReceivedRequest:
    raw_query = scope["query_string"].decode("latin-1")
    return ReceivedRequest(
        method=scope["method"],
        path=scope["path"],
        raw_query=raw_query,
        query=parse_qsl(raw_query, keep_blank_values=True),
        key_owner=_key_owner(Headers(scope=scope).get("authorization")),
    )


def _redirect_to(path: str, request: Request) -> Response:
    """307 to `path` with the request's query string byte for byte (no re-encoding)."""
    query = request.scope["query_string"].decode("latin-1")
    return Response(status_code=307, headers={"location": f"{path}?{query}" if query else path})


class _ResetConnection(Response):
    """Answers sandbox-reset by resetting the TCP connection instead of sending a response."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reset = scope.get("state", {}).get(_RESET_HOOK)
        if reset is None:
            raise RuntimeError("sandbox-reset works only under run_sandbox() or serve_forever()")
        reset()
        # Returning before uvicorn notices the disconnect would make it answer 500 instead.
        await _disconnected(receive)


async def _disconnected(receive: Receive) -> None:
    """Return once the client has gone (any request body is discarded)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _pause(request: Request, seconds: float) -> None:
    """Sleep `seconds`, or less if the client hangs up: an abandoned request must not linger."""
    if seconds <= 0:
        return  # the common case stays off the cancel-scope machinery
    with anyio.move_on_after(seconds):
        await _disconnected(request.receive)


async def _magic_response(gen_id: str, api_key_id: str, request: Request) -> Response | None:
    """The fault a magic id asks for, or None for an ordinary id."""
    if gen_id in CANNED_ANSWERS:
        content, media_type = CANNED_ANSWERS[gen_id]
        return Response(content, media_type=media_type)
    if gen_id in _MAGIC_STATUSES:
        status = _MAGIC_STATUSES[gen_id]
        return _fault_answer(status, retry_after="1" if status == 429 else None)
    if gen_id == "sandbox-redirect-loop":
        return _redirect_to(_GENERATIONS_PATH, request)
    if gen_id == "sandbox-reset":
        return _ResetConnection()
    slow = _SLOW_ID.fullmatch(gen_id)
    if slow is None:
        return None
    await _pause(request, float(slow[1]))
    return JSONResponse({"success": True, "generation": chat_record(gen_id, api_key_id)})


class _Endpoints:
    """Route handlers bound to one SandboxState."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state

    async def generations(self, request: Request) -> Response:
        await _pause(request, self._state.latency_seconds)
        owner = _key_owner(request.headers.get("authorization"))
        if owner is None or owner not in API_KEY_IDS:
            return _fault_answer(401)
        storm = self._state.storm_answer(owner)
        if storm is not None:
            return _fault_answer(429, storm.retry_after)
        fault = self._state.next_fault()
        if fault is not None:
            await _pause(request, fault.delay)
            return _fault_answer(fault.status, fault.retry_after, fault.body)
        ids = request.query_params.getlist("id")
        if len(ids) > 1:
            return _error(400, "Query parameter id must be given only once")
        if not ids or not ids[0]:
            return _error(400, "Missing required query parameter: id")
        return await self._lookup(ids[0], API_KEY_IDS[owner], request)

    async def _lookup(self, gen_id: str, api_key_id: str, request: Request) -> Response:
        magic = await _magic_response(gen_id, api_key_id, request)
        if magic is not None:
            return magic
        record = SEED_RECORDS.get(gen_id) or self._state.published(gen_id)
        if record is None or record["apiKeyId"] != api_key_id:
            # Another key's record gets the same 404 as a missing one: existence is not revealed.
            return _fault_answer(404)
        return JSONResponse({"success": True, "generation": record})

    async def generation_alias(self, request: Request) -> Response:
        return _redirect_to(_GENERATIONS_PATH, request)

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def requests(self, request: Request) -> Response:
        received = list(self._state.requests)
        return JSONResponse({"count": len(received), "requests": [asdict(one) for one in received]})

    async def faults(self, request: Request) -> Response:
        body = await _json_object(request, {"status", "times", "retry_after", "body", "delay"})
        fault_body = _optional_str(body, "body")
        with _bad_input():
            self._state.add_fault(
                status=_integer(body, "status"),
                times=_integer(body, "times", 1),
                retry_after=_optional_str(body, "retry_after"),
                body=None if fault_body is None else fault_body.encode(),
                delay=_number(body, "delay", 0.0),
            )
        return JSONResponse({"ok": True})

    async def latency(self, request: Request) -> Response:
        seconds = _number(await _json_object(request, {"seconds"}), "seconds")
        with _bad_input():
            _check_seconds("seconds", seconds)
        self._state.latency_seconds = seconds
        return JSONResponse({"ok": True})

    async def records(self, request: Request) -> Response:
        body = await _json_object(request, {"id", "after_seconds", "owner"})
        gen_id = _optional_str(body, "id")
        if not gen_id:
            raise HTTPException(400, "id must be a non-empty string")
        with _bad_input():
            record = self._state.publish(
                gen_id, _number(body, "after_seconds", 0.0), _optional_str(body, "owner") or "alice"
            )
        return JSONResponse({"ok": True, "generation": record})

    async def storm(self, request: Request) -> Response:
        body = await _json_object(request, {"seconds", "retry_after", "owner"})
        with _bad_input():
            self._state.start_storm(
                _number(body, "seconds"),
                _optional_str(body, "retry_after") or "1",
                _optional_str(body, "owner"),
            )
        return JSONResponse({"ok": True})

    async def reset(self, request: Request) -> Response:
        self._state.reset()
        return JSONResponse({"ok": True})


# Control-endpoint input checks: each raises HTTPException(400), rendered as {"error": ...}.


@contextmanager
def _bad_input() -> Iterator[None]:
    """SandboxState's ValueError for a bad argument, as a 400 with its message."""
    try:
        yield
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


async def _json_object(request: Request, allowed: set[str]) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise HTTPException(400, "Body must be JSON") from exc
    if not isinstance(body, dict):
        raise HTTPException(400, "Body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise HTTPException(400, f"Unknown field(s): {', '.join(unknown)}")
    return body


def _integer(body: dict[str, Any], name: str, default: int | None = None) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise HTTPException(400, f"{name} must be an integer")
    return value


def _number(body: dict[str, Any], name: str, default: float | None = None) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HTTPException(400, f"{name} must be a number")
    return float(value)


def _optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise HTTPException(400, f"{name} must be a string or null")
    return value


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette routes only HTTPException here: unknown paths, wrong methods, bad control input.
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        # Not the generations route's "Generation not found": a client must be able to tell a
        # misdirected lookup (a base URL with /api/v1 twice) from a record that isn't there yet.
        return _error(404, f"Cannot {request.method} {request.url.path}")
    return _error(exc.status_code, exc.detail, dict(exc.headers or {}))


class _SandboxMiddleware:
    """Logs every non-control request and stamps every response with an x-request-id."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self._app = app
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if not scope["path"].startswith(_CONTROL_PREFIX):
            self._state.requests.append(_received(scope))
        request_id = (b"x-request-id", f"req_sbx_{secrets.token_hex(8)}".encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), request_id]}
            await send(message)

        await self._app(scope, receive, send_with_id)


def create_app(state: SandboxState | None = None) -> Starlette:
    """The sandbox API as an ASGI app; a fresh SandboxState unless one is given."""
    state = state or SandboxState()
    endpoints = _Endpoints(state)
    routes = [
        Route(_GENERATIONS_PATH, endpoints.generations, methods=["GET"]),
        Route("/api/v1/generation", endpoints.generation_alias, methods=["GET"]),
        Route(f"{_CONTROL_PREFIX}health", endpoints.health, methods=["GET"]),
        Route(f"{_CONTROL_PREFIX}requests", endpoints.requests, methods=["GET"]),
        Route(f"{_CONTROL_PREFIX}faults", endpoints.faults, methods=["POST"]),
        Route(f"{_CONTROL_PREFIX}latency", endpoints.latency, methods=["POST"]),
        Route(f"{_CONTROL_PREFIX}records", endpoints.records, methods=["POST"]),
        Route(f"{_CONTROL_PREFIX}storm", endpoints.storm, methods=["POST"]),
        Route(f"{_CONTROL_PREFIX}reset", endpoints.reset, methods=["POST"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(_SandboxMiddleware, state=state)],
        exception_handlers={HTTPException: _http_error},
    )


# --- Serving: one TCP write per response, Nagle off --------------------------------------------------


class _CoalescingTransport(asyncio.Transport):
    """Wraps a socket transport so that writes made in one loop iteration leave in one send().

    uvicorn writes a response's head and body separately; merged, a response is one TCP segment
    and cannot be held back by Nagle's algorithm waiting for the peer's delayed ACK.
    """

    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._inner = inner
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def _flush(self) -> None:
        if self._pending and not self._inner.is_closing():
            self._inner.write(b"".join(self._pending))
        self._pending.clear()

    def close(self) -> None:
        self._flush()
        self._inner.close()

    def abort(self) -> None:
        self._pending.clear()
        self._inner.abort()

    def reset(self) -> None:
        """Drop the connection with a TCP RST (linger 0), as a crashed proxy would."""
        sock = self._inner.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.abort()

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()


class SandboxProtocol(HookedH11Protocol):
    """uvicorn's h11 protocol with TCP_NODELAY forced on, coalesced writes and no access log."""

    def adopt(self, transport: asyncio.Transport) -> asyncio.Transport:
        # asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP; a socket made with
        # socket.socket()/create_server() has proto 0, so requests would stall ~40 ms. Force it.
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        coalescing = _CoalescingTransport(transport, self.event_loop)
        # Each request's scope["state"] is a copy of app_state: how sandbox-reset finds its connection.
        self.add_request_state(_RESET_HOOK, coalescing.reset)
        self.silence_access_log()
        return coalescing

    def shutdown(self) -> None:
        # On server exit, close even a connection whose request is still pausing (sandbox-slow,
        # latency): the pause ends on the disconnect, instead of being cancelled with a traceback.
        self.transport.close()
