"""The KushRouter generations API: one GET, retried by the API's own rules, every failure mapped.

Each failure becomes a `LookupFailed` whose message says what happened and what to
do next, quoting the upstream x-request-id. The key travels only in the
Authorization header and is scrubbed from every message built here.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import ValidationError

from .. import __version__
from ..records.models import Generation
from ..settings.config import Settings
from ..settings.keys import ApiKey, KeyIdentities, scrub, scrub_bytes
from .cache import RecordCache
from .rate_limit import GateClosed, RateLimitGate

if TYPE_CHECKING:  # imported on the first lookup: start-up (every IDE launch) never pays for it
    import httpx

logger = logging.getLogger(__name__)

GENERATIONS_PATH = "/api/v1/generations"
_BACKOFF_BASE_SECONDS = 0.5
_BACKOFF_CAP_SECONDS = 8.0
_UPSTREAM_TEXT_LIMIT = 200
# A generation record is about a kilobyte; anything near this is not the API answering.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
# Polling for a fresh record (wait_seconds): 0.25 s, then 1.6 times longer each time, at most 4 s.
_FIRST_POLL_SECONDS = 0.25
_POLL_GROWTH = 1.6
_POLL_CAP_SECONDS = 4.0


@dataclass(eq=False)  # exceptions must stay hashable
class LookupFailed(Exception):
    """A lookup that did not produce a record. `kind` is stable for programs; `message` is for people."""

    kind: str  # no_key, unauthorized, forbidden, not_found, rate_limited, upstream_error, timeout,
    # unreachable, bad_response, rejected
    message: str
    status: int | None = None
    request_id: str | None = None
    retryable: bool = False  # 429, 5xx and connection errors, per the API's guide
    retry_after: float | None = None  # seconds the API asked to wait (429)
    waited_seconds: float = 0.0  # time spent polling for the record (wait_seconds)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class Lookup:
    """A record and how it was had: after how long a wait for it to appear, and whether from the cache."""

    record: dict[str, Any]
    waited_seconds: float = 0.0
    cached: bool = False


def no_key() -> LookupFailed:
    return LookupFailed(
        "no_key",
        "No KushRouter API key is configured, so generations can't be looked up. Set "
        "KUSHROUTER_API_KEY (a kr_… key from your KushRouter dashboard) in this MCP server's "
        'environment — for example the "env" block of your client\'s MCP config — and restart '
        "the server. extract_generation_id works without a key.",
    )


def new_http_client(settings: Settings) -> httpx.AsyncClient:
    """The one shared client: pooled connections, bounded redirects, per-attempt timeouts."""
    import httpx

    per_attempt = min(settings.timeout_seconds, 10.0)
    return httpx.AsyncClient(
        base_url=settings.base_url,
        timeout=httpx.Timeout(per_attempt, connect=min(per_attempt, 5.0)),
        follow_redirects=True,  # the /generation alias answers 307
        max_redirects=5,
        headers={"User-Agent": f"kushrouter-mcp/{__version__}", "Accept": "application/json"},
    )


class GenerationsApi:
    """Looks generations up with retries inside one overall time budget.

    Without an `http` client it makes its own on the first lookup (creating one loads the
    CA bundle, tens of milliseconds that a server used only for extraction need not pay)
    and closes it in `aclose`.
    """

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._http = http
        self._owns_http = http is None
        self._sleep = sleep
        self._jitter = jitter
        self._clock = clock
        self._identities = KeyIdentities()
        self.cache = RecordCache(settings.cache_entries, settings.cache_ttl_seconds, clock)
        self.gate = RateLimitGate(sleep, clock)

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:  # no await before the assignment: concurrent first calls share one
            self._http = new_http_client(self.settings)
        return self._http

    async def lookup(self, generation_id: str, key: ApiKey | None, wait_seconds: float = 0.0) -> Lookup:
        """The record read with `key`: from the cache if it holds it, else from the API.

        With `wait_seconds`, a 404 is polled at a growing interval until the record appears or the
        wait runs out; the wait comes on top of each poll's own time budget.
        """
        if key is None:
            raise no_key()
        identity = self._identities.of(key)
        cached = self.cache.get(identity, generation_id)
        if cached is not None:
            return Lookup(cached, cached=True)
        started = polled = self._clock()
        interval = _FIRST_POLL_SECONDS
        while True:
            try:
                record = await self._fetch_within_budget(generation_id, key, identity)
                break
            except LookupFailed as failure:
                if failure.kind != "not_found" or self._clock() - started >= wait_seconds:
                    if polled > started:
                        failure.waited_seconds = waited = polled - started
                        failure.message += f" Waited {waited:.1f} s (wait_seconds={wait_seconds:g})."
                    raise
                pause = min(interval, wait_seconds - (self._clock() - started))
            await self._sleep(pause)
            interval = min(interval * _POLL_GROWTH, _POLL_CAP_SECONDS)
            polled = self._clock()
        self.cache.put(identity, generation_id, record)
        # The wait is the time until the poll that found it: zero when the first lookup did.
        return Lookup(record, polled - started)

    async def _fetch_within_budget(self, generation_id: str, key: ApiKey, identity: bytes) -> dict[str, Any]:
        budget = self.settings.timeout_seconds
        deadline = self._clock() + budget
        with anyio.move_on_after(budget):
            try:
                return await self._with_retries(generation_id, key, identity, deadline)
            except LookupFailed as failure:
                failure.message = scrub(failure.message, key)
                raise
        raise LookupFailed(
            "timeout",
            f"KushRouter did not answer within {budget:g} s (KUSHROUTER_TIMEOUT), retries included. "
            "The API may be slow or unreachable from here; try again shortly, or raise KUSHROUTER_TIMEOUT.",
        )

    async def _with_retries(
        self, generation_id: str, key: ApiKey, identity: bytes, deadline: float
    ) -> dict[str, Any]:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt_at_gate(generation_id, key, identity, deadline)
            except LookupFailed as error:
                if not error.retryable:
                    raise
                failure = error
            delay = failure.retry_after if failure.retry_after is not None else self._backoff(attempt)
            if failure.status == 429:
                # Every lookup with this key now waits the window out at the gate, this one included.
                self.gate.close(identity, delay)
            if attempt > self.settings.max_retries:
                failure.message += f" Gave up after {attempt} attempts."
                raise failure
            if self._clock() + delay >= deadline:
                failure.message += (
                    f" Not retried: waiting {delay:.1f} s would pass the "
                    f"{self.settings.timeout_seconds:g} s budget (KUSHROUTER_TIMEOUT)."
                )
                raise failure
            logger.info("retrying lookup in %.2f s after %s (attempt %d)", delay, failure.kind, attempt)
            if failure.status != 429:
                await self._sleep(delay)

    async def _attempt_at_gate(
        self, generation_id: str, key: ApiKey, identity: bytes, deadline: float
    ) -> dict[str, Any]:
        """One attempt, once the key's rate-limit window (if any) lets it through."""
        if not self.gate.is_limited(identity):  # the common case: no window, nothing to hold
            return await self._attempt(generation_id, key)
        try:
            probe = await self.gate.wait_turn(identity, deadline)
        except GateClosed as closed:
            raise _still_limited(closed.wait_seconds, self.settings.timeout_seconds) from None
        answered = False
        try:
            record = await self._attempt(generation_id, key)
            answered = True
            return record
        except LookupFailed as failure:
            answered = failure.status is not None and failure.status != 429
            raise
        finally:
            self.gate.release(identity, probe, lifted=answered)

    def _backoff(self, attempt: int) -> float:
        # Capped exponential backoff with full jitter, as the API's guide asks.
        ceiling = min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
        return float(ceiling * (0.5 + self._jitter() / 2))

    async def _attempt(self, generation_id: str, key: ApiKey) -> dict[str, Any]:
        import httpx

        try:
            response = await self._fetch(generation_id, key)
        except httpx.DecodingError:  # not a TransportError: a body whose Content-Encoding lies
            raise LookupFailed(
                "bad_response",
                "KushRouter answered with a body that could not be decoded (its Content-Encoding does not "
                "match the data). A proxy or captive portal may stand in front of KUSHROUTER_BASE_URL; "
                "check it, and try again later.",
            ) from None
        except httpx.TooManyRedirects:
            raise LookupFailed(
                "bad_response",
                "KushRouter kept redirecting (a redirect loop). Check KUSHROUTER_BASE_URL: it should be "
                "the API's base URL, such as https://api.kushrouter.com.",
            ) from None
        except httpx.TimeoutException as error:
            raise LookupFailed(
                "timeout",
                f"KushRouter did not answer in time ({type(error).__name__}). Try again shortly.",
                retryable=True,
            ) from None
        except httpx.TransportError as error:
            raise LookupFailed(
                "unreachable",
                f"Could not reach KushRouter at {self.settings.base_url} ({type(error).__name__}). "
                "Check KUSHROUTER_BASE_URL and the network connection.",
                retryable=True,
            ) from None
        request_id = response.headers.get("x-request-id")
        if request_id is not None:  # logged below, before any message is scrubbed
            request_id = scrub(request_id, key)
        logger.info("GET generation -> %d (x-request-id %s)", response.status_code, request_id)
        if response.status_code == 200:
            return _record_from(response, request_id)
        raise _failure_for(response, generation_id, request_id)

    async def _fetch(self, generation_id: str, key: ApiKey) -> _Answer:
        """One GET, its body read up to a cap: a misdirected base URL can't fill the memory."""
        http = self._client()
        request = http.build_request(
            "GET",
            GENERATIONS_PATH,
            params={"id": generation_id},  # encoded by httpx: &, =, # and % can't add parameters
            headers={"Authorization": f"Bearer {key.reveal()}"},
        )
        response = await http.send(request, stream=True)
        try:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise _bad_shape(
                        f"the body is over {MAX_RESPONSE_BYTES:,} bytes",
                        response.headers.get("x-request-id"),
                        response.status_code,
                    )
        finally:
            await response.aclose()
        # Scrubbed before anything reads it: error texts are cut short, which would leave half a key.
        return _Answer(response.status_code, response.headers, scrub_bytes(bytes(body), key))


@dataclass(frozen=True)
class _Answer:
    status_code: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


def _with_request_id(message: str, request_id: str | None) -> str:
    return f"{message} (x-request-id: {request_id})" if request_id else message


def _upstream_error(response: _Answer) -> str:
    """The API's own error text, short and on one line, if the body has one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    text = body.get("error") if isinstance(body, dict) else None
    if isinstance(text, dict):
        text = text.get("message")
    if not isinstance(text, str):
        return ""
    text = " ".join(text.split())
    return text[:_UPSTREAM_TEXT_LIMIT] + ("…" if len(text) > _UPSTREAM_TEXT_LIMIT else "")


def _failure_for(response: _Answer, generation_id: str, request_id: str | None) -> LookupFailed:
    status = response.status_code
    kind, advice = _ADVICE.get(status) or _generic_advice(status)
    retry_after = _retry_after(response) if status == 429 else None
    if status == 404:
        advice = advice.format(id=generation_id)
    if retry_after is not None:
        advice += f" It asked to wait {retry_after:.0f} s before retrying."
    if said := _upstream_error(response):
        advice += f' KushRouter said: "{said}".'
    return LookupFailed(
        kind,
        _with_request_id(advice, request_id),
        status,
        request_id,
        retryable=status == 429 or status >= 500,
        retry_after=retry_after,
    )


def _generic_advice(status: int) -> tuple[str, str]:
    if status >= 500:
        return "upstream_error", (
            f"KushRouter had a server error ({status}). It is usually temporary: try again in a minute."
        )
    return "rejected", f"KushRouter refused the lookup ({status})."


_ADVICE: dict[int, tuple[str, str]] = {
    400: (
        "rejected",
        "KushRouter rejected the lookup as malformed (400). Check that the id is a generation id.",
    ),
    401: (
        "unauthorized",
        "KushRouter rejected the API key (401): it is missing, mistyped, revoked or expired. Check "
        "KUSHROUTER_API_KEY in this server's environment and restart the server.",
    ),
    402: (
        "rejected",
        "KushRouter answered 402 Payment Required: the account behind this key needs credit. Top it up "
        "in the KushRouter dashboard.",
    ),
    403: (
        "forbidden",
        "KushRouter refused access (403): this key may not read this generation. Only the API key that "
        "created a generation can read it — use that key.",
    ),
    404: (
        "not_found",
        "Generation {id} was not found (404). A record can take a few seconds to appear after the request "
        "finishes, so try again shortly; only the API key that created the generation can see it; records "
        "are kept for at least 7 days.",
    ),
    413: ("rejected", "KushRouter answered 413: the request was too large. Check the id."),
    429: (
        "rate_limited",
        "KushRouter's rate limit was hit (429) for this key or address. Wait a little and try again, "
        "and space lookups out.",
    ),
}


def _still_limited(wait_seconds: float, budget: float) -> LookupFailed:
    """A lookup held at the gate that can't get through within its budget."""
    if wait_seconds > 0:
        what = (
            f"KushRouter's rate limit for this key is in force for another {wait_seconds:.1f} s (it "
            f"answered 429 and asked to wait), longer than is left of the {budget:g} s budget "
            "(KUSHROUTER_TIMEOUT)."
        )
    else:
        what = (
            "KushRouter's rate limit for this key was still being probed when the "
            f"{budget:g} s budget (KUSHROUTER_TIMEOUT) ran out."
        )
    return LookupFailed(
        "rate_limited",
        f"{what} Not sent, to keep clear of the limit: try again after that, and space lookups out.",
        429,
        retry_after=wait_seconds or None,
    )


def _retry_after(response: _Answer) -> float | None:
    """Seconds to wait from Retry-After (seconds or HTTP date), else from X-RateLimit-Reset."""
    raw = response.headers.get("retry-after", "").strip()
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    reset = response.headers.get("x-ratelimit-reset", "").strip()
    try:
        return max(0.0, float(reset) - time.time()) if reset else None
    except ValueError:
        return None


def _bad_shape(detail: str, request_id: str | None, status: int = 200) -> LookupFailed:
    return LookupFailed(
        "bad_response",
        _with_request_id(
            f"KushRouter answered {status} but not with the documented body "
            f'{{"success": true, "generation": {{...}}}}: {detail}. A proxy or captive portal may stand '
            "in front of KUSHROUTER_BASE_URL; check it, and try again later.",
            request_id,
        ),
        status,
        request_id,
    )


def _record_from(response: _Answer, request_id: str | None) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        content_type = response.headers.get("content-type", "no content type")
        raise _bad_shape(f"the body is not JSON ({content_type})", request_id) from None
    if not isinstance(body, dict):
        raise _bad_shape(f"the body is a JSON {type(body).__name__}, not an object", request_id)
    if body.get("success") is not True:
        said = body.get("error")
        detail = f"success is {body.get('success')!r}" + (
            f' with error "{said}"' if isinstance(said, str) else ""
        )
        raise _bad_shape(detail[:300], request_id)
    generation = body.get("generation")
    if not isinstance(generation, dict):
        raise _bad_shape("it has no generation object", request_id)
    try:
        record = Generation.model_validate(generation)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise _bad_shape(f"generation.{where}: {first['msg']}", request_id) from None
    # Dump rather than pass through: values now match the published outputSchema,
    # while unknown fields (extra="allow") travel unchanged and absent ones stay absent.
    return record.model_dump(mode="json", exclude_unset=True)
