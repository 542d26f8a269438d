"""Who may call the HTTP server, and with which KushRouter key: the two key modes.

- server-key: callers present one of the operator's access tokens; upstream calls use the
  server's own KUSHROUTER_API_KEY.
- per-request: callers present their own KushRouter key; each request's upstream calls use it.

Both plug into the SDK as token verifiers, so a request without a valid bearer gets 401 with
WWW-Authenticate before any tool runs, and a session stays bound to the principal that opened it
(`AccessToken.client_id`). Principals are keyed hashes: no token or key appears in them.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence

from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings

from .config import PER_REQUEST, ApiKey
from .identity import KeyIdentities

# What a KushRouter key looks like (kr_live_…, the sandbox's kr_sandbox_…); anything else is
# refused in per-request mode before it could be sent upstream.
_KUSHROUTER_KEY = re.compile(r"kr_[A-Za-z0-9_\-]{4,250}")
# Principals of callers' keys start with this; access tokens' principals never do.
_CALLER_KEY_PRINCIPAL = "key"


def _principal(prefix: str, identity: bytes) -> str:
    """A credential's name in sessions and logs: its keyed hash, meaningless outside this process
    (the hash key is random per process), so it can't be checked against a guessed token."""
    return f"{prefix}-{identity.hex()}"


class StaticTokenVerifier(TokenVerifier):
    """server-key mode: the bearer must equal one of the configured access tokens.

    Every configured token is compared, each in constant time over fixed-length digests, so
    neither timing nor the result tells which token matched or how long the tokens are. Only
    the digests are kept.
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        if not tokens:
            raise ValueError("server-key mode over HTTP needs at least one access token")
        self._identities = KeyIdentities()
        self._digests = [self._identities.of(ApiKey(token)) for token in tokens]

    async def verify_token(self, token: str) -> AccessToken | None:
        presented = self._identities.of(ApiKey(token))
        matched = False
        for digest in self._digests:  # no early exit: every token is compared
            matched |= hmac.compare_digest(presented, digest)
        if not matched:
            return None
        # The token field is required; the principal stands in so the secret is not copied around.
        principal = _principal("token", presented)
        return AccessToken(token=principal, client_id=principal, scopes=[])


class CallerKeyVerifier(TokenVerifier):
    """per-request mode: the bearer is the caller's own KushRouter key, used for its calls only.

    The key is not checked with KushRouter here (that would cost an upstream call per request);
    a wrong key gets KushRouter's own 401 as a tool error on the first lookup.
    """

    def __init__(self) -> None:
        self._identities = KeyIdentities()

    async def verify_token(self, token: str) -> AccessToken | None:
        if not _KUSHROUTER_KEY.fullmatch(token):
            return None
        principal = _principal(_CALLER_KEY_PRINCIPAL, self._identities.of(ApiKey(token)))
        return AccessToken(token=token, client_id=principal, scopes=[])


def caller_key(access_token: AccessToken | None) -> ApiKey | None:
    """The caller's KushRouter key from the request's verified access token (per-request mode)."""
    if access_token is None or not access_token.client_id.startswith(f"{_CALLER_KEY_PRINCIPAL}-"):
        return None
    return ApiKey(access_token.token)


def token_verifier(key_mode: str, tokens: Sequence[str]) -> TokenVerifier:
    return CallerKeyVerifier() if key_mode == PER_REQUEST else StaticTokenVerifier(tokens)


def auth_settings(base_url: str) -> AuthSettings:
    """The SDK's auth switch. It requires an issuer URL; with static tokens this server is its own
    issuer, so that is its own base URL. No protected-resource metadata is published
    (resource_server_url=None): there is no OAuth flow to discover, tokens are handed out by the
    operator.
    """
    return AuthSettings(issuer_url=base_url, resource_server_url=None)  # type: ignore[arg-type]
