"""Who a request speaks for, without holding the API key: a keyed hash of it.

The cache and the rate-limit gate are keyed by this identity. The secret is random per
process, so an identity means nothing outside it and can't be reversed into the key.
"""

from __future__ import annotations

import hashlib
import secrets

from .config import ApiKey


class KeyIdentities:
    """Maps API keys to opaque identities: equal keys, equal identities; nothing else is shared."""

    __slots__ = ("_secret",)

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def of(self, key: ApiKey) -> bytes:
        # Keyed BLAKE2b is a MAC: without the secret, an identity can't be tested against a guessed key.
        return hashlib.blake2b(key.reveal().encode(), key=self._secret, digest_size=16).digest()
