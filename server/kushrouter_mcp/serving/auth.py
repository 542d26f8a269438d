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
from typing import Protocol

from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings

from ..settings.config import PER_REQUEST
from ..settings.keys import CALLER_KEY_PRINCIPAL, ApiKey, KeyIdentities, principal

# What a KushRouter key looks like (kr_live_…, the sandbox's kr_sandbox_…); anything else is
# refused in per-request mode before it could be sent upstream.
_KUSHROUTER_KEY = re.compile(r"kr_[A-Za-z0-9_\-]{4,250}")


class Credentials(Protocol):
    def principal_of(self, token: str) -> str | None:
        """The caller this bearer token speaks for, or None if it is not a credential here."""
        ...


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

    def principal_of(self, token: str) -> str | None:
        presented = self._identities.of(ApiKey(token))
        matched = False
        for digest in self._digests:  # no early exit: every token is compared
            matched |= hmac.compare_digest(presented, digest)
        return principal("token", presented) if matched else None

    async def verify_token(self, token: str) -> AccessToken | None:
        name = self.principal_of(token)
        if name is None:
            return None
        # The token field is required; the principal stands in so the secret is not copied around.
        return AccessToken(token=name, client_id=name, scopes=[])


class CallerKeyVerifier(TokenVerifier):
    """per-request mode: the bearer is the caller's own KushRouter key, used for its calls only.

    Only the key's shape is checked here; serving.callers.CallerGate has asked KushRouter
    whether the key is real before the request reaches the SDK.
    """

    def __init__(self) -> None:
        self._identities = KeyIdentities()

    def principal_of(self, token: str) -> str | None:
        if not _KUSHROUTER_KEY.fullmatch(token):
            return None
        return principal(CALLER_KEY_PRINCIPAL, self._identities.of(ApiKey(token)))

    async def verify_token(self, token: str) -> AccessToken | None:
        name = self.principal_of(token)
        return None if name is None else AccessToken(token=token, client_id=name, scopes=[])


def token_verifier(key_mode: str, tokens: Sequence[str]) -> CallerKeyVerifier | StaticTokenVerifier:
    return CallerKeyVerifier() if key_mode == PER_REQUEST else StaticTokenVerifier(tokens)


def auth_settings(base_url: str) -> AuthSettings:
    """The SDK's auth switch. It requires an issuer URL; with static tokens this server is its own
    issuer, so that is its own base URL. No protected-resource metadata is published
    (resource_server_url=None): there is no OAuth flow to discover, tokens are handed out by the
    operator.
    """
    return AuthSettings(issuer_url=base_url, resource_server_url=None)  # type: ignore[arg-type]
