"""The KushRouter generations API: one GET, retried by the API's own rules, every failure mapped.

Each failure becomes a `LookupFailed` whose message says what happened and what to
do next, quoting the upstream x-request-id. The key travels only in the
Authorization header and is scrubbed from every message built here.
"""

from __future__ import annotations

import json
import logging
import math
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
from ..settings.keys import ApiKey, KeyIdentities, KeySource, scrub, scrub_bytes, scrub_json
from .cache import RecordCache
from .failures import (
    ErrorKind,
    LookupFailed,
    bad_shape,
    misdirected,
    no_key,
    out_of_time,
    status_advice,
    still_limited,
    transport_failure,
    with_request_id,
)
from .polling import PollSchedule, note_wait
from .rate_limit import MAX_WINDOW_SECONDS, GateClosed, RateLimitGate

if TYPE_CHECKING:  # imported on the first lookup: start-up (every IDE launch) never pays for it
    import httpx

logger = logging.getLogger(__name__)

GENERATIONS_PATH = "/api/v1/generations"
_BACKOFF_BASE_SECONDS = 0.5
_BACKOFF_CAP_SECONDS = 8.0
_UPSTREAM_TEXT_LIMIT = 200
# A generation record is about a kilobyte; anything near this is not the API answering.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Lookup:
    """A record and how it was had: after how long a wait for it to appear, and whether from the cache."""

    record: dict[str, Any]
    waited_seconds: float = 0.0
    cached: bool = False


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
        schedule = PollSchedule(started + wait_seconds, self._clock)
        while True:
            try:
                record = await self._fetch_within_budget(generation_id, key, identity)
                break
            except LookupFailed as failure:
                pause = schedule.next_pause() if failure.kind is ErrorKind.NOT_FOUND else None
                if pause is None:
                    note_wait(failure, polled - started, wait_seconds)
                    raise
            await self._sleep(pause)
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
        raise out_of_time(budget)

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
            raise still_limited(closed.wait_seconds, self.settings.timeout_seconds) from None
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
        except httpx.RequestError as error:
            raise transport_failure(error, self.settings.base_url) from None
        request_id = response.headers.get("x-request-id")
        if request_id is not None:  # logged below, before any message is scrubbed
            request_id = scrub(request_id, key)
        logger.info("GET generation -> %d (x-request-id %s)", response.status_code, request_id)
        if response.status_code == 200:
            return _record_from(response, request_id)
        raise _failure_for(response, generation_id, request_id, key.source)

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
                    raise bad_shape(
                        f"the body is over {MAX_RESPONSE_BYTES:,} bytes",
                        response.headers.get("x-request-id"),
                        response.status_code,
                    )
        finally:
            await response.aclose()
        # Scrubbed before anything reads it: error texts are cut short, which would leave half a key.
        endpoint = str(response.url.copy_with(query=None))
        content = scrub_bytes(bytes(body), key)
        return _Answer(response.status_code, response.headers, content, endpoint, key)


@dataclass(frozen=True)
class _Answer:
    status_code: int
    headers: httpx.Headers
    content: bytes
    endpoint: str  # the URL that answered, without its query: where a misdirected lookup went
    key: ApiKey  # the key the lookup was sent with: scrubbed from the body, raw and decoded

    def json(self) -> Any:
        """The body decoded, the key scrubbed from it (the raw scrub misses a JSON-escaped key).

        Raises ValueError for anything that is not JSON, nesting too deep to decode included.
        """
        try:
            decoded = json.loads(self.content)
        except RecursionError:
            raise ValueError("JSON nested too deep") from None
        return scrub_json(decoded, self.key)


def _error_text(response: _Answer) -> str:
    """The API's error text on one line, if the body has one: {"error": "…"} or {"error": {"message"}}."""
    try:
        body = response.json()
    except ValueError:
        return ""
    text = body.get("error") if isinstance(body, dict) else None
    if isinstance(text, dict):
        text = text.get("message")
    return " ".join(text.split()) if isinstance(text, str) else ""


def _upstream_error(response: _Answer) -> str:
    """The API's own error text, short enough to quote."""
    text = _error_text(response)
    return text[:_UPSTREAM_TEXT_LIMIT] + ("…" if len(text) > _UPSTREAM_TEXT_LIMIT else "")


def _is_generation_not_found(response: _Answer) -> bool:
    """A 404 in the API's shape: a JSON error that says "not found" (KushRouter: "Generation not found").

    Anything else (an HTML page, an empty body, another route's JSON) came from somewhere that is
    not the generations route. Lenient on purpose: a real not-found must never lose its polling.
    """
    return "not found" in _error_text(response).lower()


def _body_detail(response: _Answer) -> str:
    if not response.content:
        return "an empty body"
    said = _upstream_error(response)
    if said:
        return f'the error "{said}"'
    return f"a {response.headers.get('content-type', 'body without a content type')} body"


def _failure_for(
    response: _Answer, generation_id: str, request_id: str | None, source: KeySource
) -> LookupFailed:
    status = response.status_code
    if status == 404 and not _is_generation_not_found(response):
        return misdirected(_body_detail(response), response.endpoint, request_id)
    kind, advice = status_advice(status, generation_id, source)
    retry_after = _retry_after(response) if status == 429 else None
    if retry_after is not None:
        # At the cap, the API may have asked for far longer: the cap is all this server holds a key for.
        asked = "at least " if retry_after >= MAX_WINDOW_SECONDS else ""
        advice += f" It asked to wait {asked}{retry_after:.0f} s before retrying."
    if said := _upstream_error(response):
        advice += f' KushRouter said: "{said}".'
    return LookupFailed(
        kind,
        with_request_id(advice, request_id),
        status,
        request_id,
        retryable=status == 429 or status >= 500,
        retry_after=retry_after,
    )


def _retry_after(response: _Answer) -> float | None:
    """Seconds to wait, from Retry-After (seconds or an HTTP date), else X-RateLimit-Reset (epoch seconds).

    At most MAX_WINDOW_SECONDS (infinite and far-future values included) and at least 0; a value
    that is unreadable or NaN is ignored, leaving the wait to the backoff.
    """
    seconds = _delay_seconds(response.headers.get("retry-after", "").strip())
    if seconds is None:
        reset = _number(response.headers.get("x-ratelimit-reset", "").strip())
        seconds = None if reset is None else reset - time.time()
    return None if seconds is None else min(MAX_WINDOW_SECONDS, max(0.0, seconds))


def _delay_seconds(raw: str) -> float | None:
    seconds = _number(raw)
    if seconds is not None or not raw:
        return seconds
    try:
        return parsedate_to_datetime(raw).timestamp() - time.time()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def _number(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def _record_from(response: _Answer, request_id: str | None) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        content_type = response.headers.get("content-type", "no content type")
        raise bad_shape(f"the body is not JSON ({content_type})", request_id) from None
    if not isinstance(body, dict):
        raise bad_shape(f"the body is a JSON {type(body).__name__}, not an object", request_id)
    if body.get("success") is not True:
        said = body.get("error")
        detail = f"success is {body.get('success')!r}" + (
            f' with error "{said}"' if isinstance(said, str) else ""
        )
        raise bad_shape(detail[:300], request_id)
    generation = body.get("generation")
    if not isinstance(generation, dict):
        raise bad_shape("it has no generation object", request_id)
    try:
        record = Generation.model_validate(generation)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise bad_shape(f"generation.{where}: {first['msg']}", request_id) from None
    # Dump rather than pass through: values now match the published outputSchema,
    # while unknown fields (extra="allow") travel unchanged and absent ones stay absent.
    return record.model_dump(mode="json", exclude_unset=True)
