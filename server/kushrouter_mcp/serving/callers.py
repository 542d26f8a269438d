"""Who gets in, and how much each caller may hold: credentials checked before the SDK sees a request.

- A request without a valid credential gets 401 with the standard fields (`error`,
  `error_description`) and a sentence saying which header this server expects.
- In per-request mode a caller's key must be one KushRouter accepts: one lookup of an id that
  can't exist tells (401: a bad key; 404: a good one). Both verdicts are kept for a while under
  the key's keyed hash, so a made-up key costs one upstream call and never opens a session.
- Each caller (access token or KushRouter key) may hold at most `max_sessions_per_caller` open
  sessions, besides the SDK's cap on all sessions.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from enum import Enum
from typing import Final

import anyio
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..library_internals.http_stack import is_session_era, session_owners
from ..settings.config import PER_REQUEST, HttpSettings, Settings
from ..settings.keys import ApiKey, KeyIdentities
from ..upstream.cache import ExpiringLru
from ..upstream.client import GenerationsApi
from ..upstream.failures import ErrorKind, LookupFailed
from .auth import Credentials

logger = logging.getLogger(__name__)

# Looked up to test a key: KushRouter answers 401 for a bad key and 404 for a good one.
KEY_CHECK_ID: Final = "kushrouter-mcp-key-check-0000000000"
GOOD_KEY_SECONDS: Final = 600.0
BAD_KEY_SECONDS: Final = 60.0
KEY_VERDICTS_KEPT: Final = 10_000
KEY_CHECKS_AT_ONCE: Final = 16
_UNAVAILABLE_RETRY_SECONDS: Final = 5


class Verdict(Enum):
    GOOD = "good"
    BAD = "bad"
    UNKNOWN = "unknown"  # KushRouter could not be asked: not kept


class KeyChecker:
    """Asks KushRouter whether a key is real, once per key in a while, a few keys at a time."""

    def __init__(self, settings: Settings) -> None:
        # One quick attempt: a caller waiting to connect should not sit through retries.
        quick = replace(
            settings, max_retries=0, cache_entries=0, timeout_seconds=min(settings.timeout_seconds, 10)
        )
        self._api = GenerationsApi(quick)
        self._identities = KeyIdentities()
        self._verdicts: ExpiringLru[bytes, Verdict] = ExpiringLru(KEY_VERDICTS_KEPT)
        self._checking: dict[bytes, anyio.Event] = {}
        self._limiter = anyio.CapacityLimiter(KEY_CHECKS_AT_ONCE)

    async def aclose(self) -> None:
        await self._api.aclose()

    async def verdict(self, key: ApiKey) -> Verdict:
        identity = self._identities.of(key)
        while True:
            known = self._verdicts.get(identity)
            if known is not None:
                return known
            running = self._checking.get(identity)
            if running is None:
                break
            await running.wait()  # the same key arriving on many connections is checked once
            if self._verdicts.get(identity) is None:
                return Verdict.UNKNOWN
        self._checking[identity] = done = anyio.Event()
        try:
            async with self._limiter:
                found = await self._ask(key)
        finally:
            del self._checking[identity]
            done.set()
        if found is not Verdict.UNKNOWN:
            seconds = GOOD_KEY_SECONDS if found is Verdict.GOOD else BAD_KEY_SECONDS
            self._verdicts.put(identity, found, seconds)
        return found

    async def _ask(self, key: ApiKey) -> Verdict:
        try:
            await self._api.lookup(KEY_CHECK_ID, key)
        except LookupFailed as failure:
            if failure.kind is ErrorKind.UNAUTHORIZED:
                return Verdict.BAD
            # Not found, forbidden, payment required: KushRouter knew the key.
            if failure.kind in (ErrorKind.NOT_FOUND, ErrorKind.FORBIDDEN) or failure.status == 402:
                return Verdict.GOOD
            logger.warning("could not check a caller's key with KushRouter: %s", failure.message)
            return Verdict.UNKNOWN
        return Verdict.GOOD


def _error(status: int, body: dict[str, object], *headers: tuple[str, str]) -> Response:
    return Response(json.dumps(body).encode(), status, dict(headers), media_type="application/json")


def _unauthorized(sentence: str) -> Response:
    description = f"Authentication required. {sentence}"
    header = 'Bearer error="invalid_token", error_description="Authentication required"'
    return _error(
        401, {"error": "invalid_token", "error_description": description}, ("WWW-Authenticate", header)
    )


def _json_rpc_error(status: int, message: str, *headers: tuple[str, str]) -> Response:
    body: dict[str, object] = {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": message}}
    return _error(status, body, *headers)


SERVER_KEY_SENTENCE: Final = (
    "This server expects one of its access tokens in the header 'Authorization: Bearer <access token>' "
    "(ask the server's operator for one); the request had no token or one it does not know."
)
PER_REQUEST_SENTENCE: Final = (
    "This server expects your own KushRouter API key in the header 'Authorization: Bearer kr_…' (the "
    "key from your KushRouter dashboard); the request had none, or not one shaped like a KushRouter key."
)
REJECTED_KEY_SENTENCE: Final = (
    "KushRouter rejected the API key sent in 'Authorization: Bearer kr_…' (401): it is mistyped, revoked "
    "or expired. Send a valid KushRouter key of your own."
)


def _bearer(scope: Scope) -> str | None:
    scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class CallerGate:
    """The credential check, key check and per-caller session cap, in front of the SDK's app."""

    def __init__(
        self,
        app: ASGIApp,
        mcp_path: str,
        credentials: Credentials,
        http: HttpSettings,
        settings: Settings,
        sessions: StreamableHTTPSessionManager | None,
    ) -> None:
        self.app = app
        self._mcp_path = mcp_path
        self._credentials = credentials
        self._per_request = http.key_mode == PER_REQUEST
        self._checker = KeyChecker(settings) if self._per_request else None
        self._sessions = sessions  # None when stateless: no sessions to count
        self._per_caller = http.max_sessions_per_caller
        self._idle_minutes = http.session_idle_seconds / 60
        self._opening: dict[str, int] = {}  # caller -> sessions being opened right now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            try:
                await self.app(scope, receive, send)
            finally:
                if self._checker is not None:
                    await self._checker.aclose()
            return
        if scope["type"] != "http" or scope["path"] != self._mcp_path:
            await self.app(scope, receive, send)
            return
        refusal, caller = await self._admit(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if caller is None or not self._opens_session(scope):
            await self.app(scope, receive, send)
            return
        if self._sessions_of(caller) >= self._per_caller:
            await self._too_many_sessions()(scope, receive, send)
            return
        self._opening[caller] = self._opening.get(caller, 0) + 1
        opening = True

        def opened() -> None:
            nonlocal opening
            if opening:  # once: the SDK has registered the session (or refused it) by now
                opening = False
                self._opening[caller] -= 1
                if not self._opening[caller]:
                    del self._opening[caller]

        async def send_noting_the_answer(message: Message) -> None:
            # Not when the app returns: uvicorn may serve the caller's next request before that.
            if message["type"] == "http.response.start":
                opened()
            await send(message)

        try:
            await self.app(scope, receive, send_noting_the_answer)
        finally:
            opened()

    async def _admit(self, scope: Scope) -> tuple[Response | None, str | None]:
        """(a refusal, None) or (None, the caller's principal)."""
        token = _bearer(scope)
        caller = self._credentials.principal_of(token) if token else None
        if caller is None:
            return _unauthorized(PER_REQUEST_SENTENCE if self._per_request else SERVER_KEY_SENTENCE), None
        if self._checker is not None and token is not None:
            verdict = await self._checker.verdict(ApiKey(token))
            if verdict is Verdict.BAD:
                return _unauthorized(REJECTED_KEY_SENTENCE), None
            if verdict is Verdict.UNKNOWN:
                message = (
                    "This server could not check your KushRouter API key with KushRouter just now (it did "
                    "not answer, or answered with an error), so it did not let the request in. Try again "
                    "in a moment."
                )
                return _json_rpc_error(503, message, ("Retry-After", str(_UNAVAILABLE_RETRY_SECONDS))), None
        return None, caller

    def _opens_session(self, scope: Scope) -> bool:
        if self._sessions is None or scope["method"] != "POST":
            return False
        headers = Headers(scope=scope)
        return "mcp-session-id" not in headers and is_session_era(headers.get("mcp-protocol-version"))

    def _sessions_of(self, caller: str) -> int:
        assert self._sessions is not None
        held = sum(1 for owner in session_owners(self._sessions) if owner == caller)
        return held + self._opening.get(caller, 0)

    def _too_many_sessions(self) -> Response:
        message = (
            f"This caller already has {self._per_caller} open sessions, the most this server allows per "
            "caller (KUSHROUTER_MCP_MAX_SESSIONS_PER_CALLER). Close sessions you no longer use (DELETE "
            f"with their Mcp-Session-Id header), or wait: a session with nothing in flight ends after "
            f"{self._idle_minutes:g} minutes."
        )
        return _json_rpc_error(429, message, ("Retry-After", "60"))
