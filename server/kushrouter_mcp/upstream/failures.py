"""The failure vocabulary of lookups: what kinds there are, and the words each failure is told in.

`ErrorKind` is the one list of kinds: lookups raise them, batch results carry them, the tool
descriptions and the README list them from here. HTTP statuses map to kinds and advice through
`STATUS_ADVICE`; network exceptions through `TRANSPORT_FAILURES`, walked along the exception's
class hierarchy the way httpx maps its transport's exceptions to its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING

from ..settings.keys import KeySource

if TYPE_CHECKING:  # httpx is imported on the first lookup, never at start-up
    import httpx


class ErrorKind(StrEnum):
    """Why a lookup produced no record. The values are stable: programs branch on them."""

    NO_KEY = "no_key"
    INVALID_ID = "invalid_id"
    NOT_FOUND = "not_found"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    UPSTREAM_ERROR = "upstream_error"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    BAD_RESPONSE = "bad_response"
    REJECTED = "rejected"

    @property
    def meaning(self) -> str:
        """One line for people: when this kind is given."""
        return _MEANINGS[self]


_MEANINGS: dict[ErrorKind, str] = {
    ErrorKind.NO_KEY: "no KushRouter API key is configured, so nothing was looked up",
    ErrorKind.INVALID_ID: "the id can't be a generation id (empty, too long, whitespace…); never sent",
    ErrorKind.NOT_FOUND: "KushRouter has no record of this id for this key (yet: records take seconds)",
    ErrorKind.UNAUTHORIZED: "KushRouter rejected the API key (401)",
    ErrorKind.FORBIDDEN: "the key may not read this generation (403)",
    ErrorKind.RATE_LIMITED: "KushRouter rate-limited the key (429) for longer than the time budget",
    ErrorKind.UPSTREAM_ERROR: "KushRouter had a server error (5xx), still there after the retries",
    ErrorKind.TIMEOUT: "no answer within the time budget (KUSHROUTER_TIMEOUT), retries included",
    ErrorKind.UNREACHABLE: "KushRouter could not be reached (DNS, refused or reset connection)",
    ErrorKind.BAD_RESPONSE: "an answer that is not the API's: wrong shape, not JSON, wrong base URL",
    ErrorKind.REJECTED: "KushRouter refused the lookup for another reason (400, 402, 413, other 4xx)",
}


@dataclass(eq=False)  # exceptions must stay hashable
class LookupFailed(Exception):
    """A lookup that did not produce a record. `kind` is stable for programs; `message` is for people."""

    kind: ErrorKind
    message: str
    status: int | None = None
    request_id: str | None = None
    retryable: bool = False  # 429, 5xx and connection errors, per the API's guide
    retry_after: float | None = None  # seconds the API asked to wait (429)
    waited_seconds: float = 0.0  # time spent polling for the record (wait_seconds)

    def __str__(self) -> str:
        return self.message


def with_request_id(message: str, request_id: str | None) -> str:
    return f"{message} (x-request-id: {request_id})" if request_id else message


def no_key() -> LookupFailed:
    return LookupFailed(
        ErrorKind.NO_KEY,
        "No KushRouter API key is configured, so generations can't be looked up. Set "
        "KUSHROUTER_API_KEY (a kr_… key from your KushRouter dashboard) in this MCP server's "
        'environment — for example the "env" block of your client\'s MCP config — and restart '
        "the server. extract_generation_id works without a key.",
    )


# --- HTTP statuses ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyAdvice:
    """What to do about the key, said where the key came from: the server's environment or the caller."""

    fix: str  # the key was rejected
    use_creator: str  # another key created the generation


KEY_ADVICE: dict[KeySource, KeyAdvice] = {
    KeySource.SERVER: KeyAdvice(
        fix="Check KUSHROUTER_API_KEY in this server's environment and restart the server.",
        use_creator="use that key (KUSHROUTER_API_KEY in this server's environment).",
    ),
    KeySource.CALLER: KeyAdvice(
        fix="This server looks generations up with each caller's own key: fix the key your MCP client "
        "sends as 'Authorization: Bearer kr_…' (in its headers configuration) and reconnect.",
        use_creator="send that key as 'Authorization: Bearer kr_…' from your MCP client.",
    ),
}

# Status -> (kind, advice). In an advice, "{id}" is the generation id looked up and "{fix_key}" and
# "{use_creator_key}" are the KEY_ADVICE for the key's source.
STATUS_ADVICE: dict[int, tuple[ErrorKind, str]] = {
    400: (
        ErrorKind.REJECTED,
        "KushRouter rejected the lookup as malformed (400). Check that the id is a generation id.",
    ),
    401: (
        ErrorKind.UNAUTHORIZED,
        "KushRouter rejected the API key (401): it is missing, mistyped, revoked or expired. {fix_key}",
    ),
    402: (
        ErrorKind.REJECTED,
        "KushRouter answered 402 Payment Required: the account behind this key needs credit. Top it up "
        "in the KushRouter dashboard.",
    ),
    403: (
        ErrorKind.FORBIDDEN,
        "KushRouter refused access (403): this key may not read this generation. Only the API key that "
        "created a generation can read it — {use_creator_key}",
    ),
    404: (
        ErrorKind.NOT_FOUND,
        "Generation {id} was not found (404). A record can take a few seconds to appear after the request "
        "finishes, so try again shortly; only the API key that created the generation can see it; records "
        "are kept for at least 7 days.",
    ),
    413: (ErrorKind.REJECTED, "KushRouter answered 413: the request was too large. Check the id."),
    429: (
        ErrorKind.RATE_LIMITED,
        "KushRouter's rate limit was hit (429) for this key or address. Wait a little and try again, "
        "and space lookups out.",
    ),
}


def status_advice(status: int, generation_id: str, source: KeySource) -> tuple[ErrorKind, str]:
    """The kind and the advice for an HTTP status other than 200, for a key from `source`."""
    known = STATUS_ADVICE.get(status)
    if known is not None:
        kind, advice = known
        key = KEY_ADVICE[source]
        return kind, advice.format(id=generation_id, fix_key=key.fix, use_creator_key=key.use_creator)
    if status >= 500:
        return ErrorKind.UPSTREAM_ERROR, (
            f"KushRouter had a server error ({status}). It is usually temporary: try again in a minute."
        )
    return ErrorKind.REJECTED, f"KushRouter refused the lookup ({status})."


# --- Network exceptions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransportFailure:
    """How one httpx exception class is told: "{base_url}" and "{error}" (its class name) are filled in."""

    kind: ErrorKind
    advice: str
    retryable: bool


@cache
def transport_failures() -> dict[type[httpx.RequestError], TransportFailure]:
    """The httpx exception classes a lookup can meet, each with its kind and advice.

    Looked up along the raised exception's class hierarchy, so the most specific entry wins
    (a ConnectTimeout is a TimeoutException before it is a TransportError).
    """
    import httpx

    return {
        # Not a TransportError: a body whose Content-Encoding lies.
        httpx.DecodingError: TransportFailure(
            ErrorKind.BAD_RESPONSE,
            "KushRouter answered with a body that could not be decoded (its Content-Encoding does not "
            "match the data). A proxy or captive portal may stand in front of KUSHROUTER_BASE_URL; "
            "check it, and try again later.",
            retryable=False,
        ),
        httpx.TooManyRedirects: TransportFailure(
            ErrorKind.BAD_RESPONSE,
            "KushRouter kept redirecting (a redirect loop). Check KUSHROUTER_BASE_URL: it should be "
            "the API's base URL, such as https://api.kushrouter.com.",
            retryable=False,
        ),
        httpx.TimeoutException: TransportFailure(
            ErrorKind.TIMEOUT,
            "KushRouter did not answer in time ({error}). Try again shortly.",
            retryable=True,
        ),
        httpx.TransportError: TransportFailure(
            ErrorKind.UNREACHABLE,
            "Could not reach KushRouter at {base_url} ({error}). "
            "Check KUSHROUTER_BASE_URL and the network connection.",
            retryable=True,
        ),
        # Any other request error httpx may add later: a failure to report, not a crash.
        httpx.RequestError: TransportFailure(
            ErrorKind.UNREACHABLE,
            "The lookup failed on its way to KushRouter at {base_url} ({error}). "
            "Check KUSHROUTER_BASE_URL and the network connection.",
            retryable=True,
        ),
    }


def transport_failure(error: httpx.RequestError, base_url: str) -> LookupFailed:
    """The LookupFailed for an exception httpx raised instead of giving an answer."""
    table = transport_failures()
    entry = next(table[cls] for cls in type(error).__mro__ if cls in table)
    message = entry.advice.format(base_url=base_url, error=type(error).__name__)
    return LookupFailed(entry.kind, message, retryable=entry.retryable)


# --- Lookups that never reached KushRouter, answers that are not the API's ------------------------


def still_limited(wait_seconds: float, budget: float) -> LookupFailed:
    """A lookup held at the rate-limit gate that can't get through within its budget."""
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
        ErrorKind.RATE_LIMITED,
        f"{what} Not sent, to keep clear of the limit: try again after that, and space lookups out.",
        429,
        retry_after=wait_seconds or None,
    )


def out_of_time(budget: float) -> LookupFailed:
    return LookupFailed(
        ErrorKind.TIMEOUT,
        f"KushRouter did not answer within {budget:g} s (KUSHROUTER_TIMEOUT), retries included. "
        "The API may be slow or unreachable from here; try again shortly, or raise KUSHROUTER_TIMEOUT.",
    )


def misdirected(detail: str, endpoint: str, request_id: str | None) -> LookupFailed:
    """A 404 that is not the API's "generation not found": the lookup went to the wrong place."""
    return LookupFailed(
        ErrorKind.BAD_RESPONSE,
        with_request_id(
            f'{endpoint} answered 404 with {detail}, not KushRouter\'s "generation not found" error, so '
            "KUSHROUTER_BASE_URL is probably wrong. Set it to the API's base URL alone, such as "
            "https://api.kushrouter.com (this server adds /api/v1/generations), and restart the server.",
            request_id,
        ),
        404,
        request_id,
    )


def bad_shape(detail: str, request_id: str | None, status: int = 200) -> LookupFailed:
    return LookupFailed(
        ErrorKind.BAD_RESPONSE,
        with_request_id(
            f"KushRouter answered {status} but not with the documented body "
            f'{{"success": true, "generation": {{...}}}}: {detail}. A proxy or captive portal may stand '
            "in front of KUSHROUTER_BASE_URL; check it, and try again later.",
            request_id,
        ),
        status,
        request_id,
    )
