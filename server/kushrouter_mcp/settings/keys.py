"""Secrets and who they speak for: the API key that never shows, its keyed-hash identity, scrubbing.

The cache, the rate-limit gate and HTTP sessions are keyed by identities, never by keys. The
identity secret is random per process, so an identity means nothing outside it and can't be
reversed into the key.
"""

from __future__ import annotations

import hashlib
import secrets
from enum import Enum
from typing import Any

REDACTED = "[redacted]"
# Principals (HTTP session owners) of callers' own KushRouter keys start with this prefix;
# access tokens' principals never do.
CALLER_KEY_PRINCIPAL = "key"


class KeySource(Enum):
    """Where a key came from, which is where a wrong one must be fixed."""

    SERVER = "server"  # KUSHROUTER_API_KEY in the server's environment
    CALLER = "caller"  # the caller's own key, from its Authorization header (HTTP per-request mode)


class ApiKey:
    """The API key: readable where a request is built, masked everywhere else."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: KeySource = KeySource.SERVER) -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "ApiKey('***')"

    __str__ = __repr__


class KeyIdentities:
    """Maps API keys to opaque identities: equal keys, equal identities; nothing else is shared."""

    __slots__ = ("_secret",)

    SECRET_BYTES = 32

    def __init__(self, secret: bytes | None = None) -> None:
        # Random per process unless given: the ledger keeps one secret in its file, so its
        # identities last across processes and restarts (and still name no key outside it).
        self._secret = secrets.token_bytes(self.SECRET_BYTES) if secret is None else secret

    def of(self, key: ApiKey) -> bytes:
        # Keyed BLAKE2b is a MAC: without the secret, an identity can't be tested against a guessed key.
        return hashlib.blake2b(key.reveal().encode(), key=self._secret, digest_size=16).digest()


def principal(prefix: str, identity: bytes) -> str:
    """A credential's name in sessions and logs: its keyed hash, meaningless outside this process."""
    return f"{prefix}-{identity.hex()}"


def is_caller_key_principal(name: str) -> bool:
    return name.startswith(f"{CALLER_KEY_PRINCIPAL}-")


def scrub(text: str, key: ApiKey) -> str:
    secret = key.reveal()
    return text.replace(secret, REDACTED) if secret else text


def scrub_bytes(content: bytes, key: ApiKey) -> bytes:
    secret = key.reveal().encode()
    return content.replace(secret, REDACTED.encode()) if secret else content


def scrub_json(value: Any, key: ApiKey) -> Any:
    """Decoded JSON with the key replaced in every string at any depth, object keys included.

    Scrubbing the raw bytes misses a key written with JSON escapes (`kr\\u005f…`), which decoding
    turns back into the key. Changes `value` in place (it is freshly decoded) and walks it without
    recursion, so any depth the JSON decoder accepted is fine here too.
    """
    secret = key.reveal()
    if not secret:
        return value
    if isinstance(value, str):
        return value.replace(secret, REDACTED)
    pending = [value] if isinstance(value, dict | list) else []
    while pending:
        node = pending.pop()
        if isinstance(node, dict) and any(secret in name for name in node):
            renamed = [(scrub(name, key), item) for name, item in node.items()]
            node.clear()
            node.update(renamed)
        slots = node.items() if isinstance(node, dict) else enumerate(node)
        for slot, item in list(slots):
            if isinstance(item, str):
                if secret in item:
                    node[slot] = item.replace(secret, REDACTED)
            elif isinstance(item, dict | list):
                pending.append(item)
    return value
