"""Configuration from the environment, read in one place.

Every setting has a documented variable; a bad value stops start-up with a message
that names the variable. The API key is held in `ApiKey`, whose repr never shows it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, TypeVar
from urllib.parse import urlsplit

from .keys import ApiKey

DEFAULT_BASE_URL = "https://api.kushrouter.com"
DEFAULT_TIMEOUT_SECONDS = 20.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_PAYLOAD_CHARS = 16 * 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# --- Batch lookups and the record cache --------------------------------------------------------
DEFAULT_BATCH_CONCURRENCY = 8
DEFAULT_CACHE_ENTRIES = 1024
DEFAULT_CACHE_TTL_SECONDS = 3600.0  # records are kept 7 days; an hour is far inside that

LOOKUP_ENVIRONMENT: dict[str, tuple[str, str]] = {
    "KUSHROUTER_MCP_BATCH_CONCURRENCY": (
        str(DEFAULT_BATCH_CONCURRENCY),
        "Lookups get_generations runs at once (1 to 64).",
    ),
    "KUSHROUTER_MCP_CACHE_SIZE": (
        str(DEFAULT_CACHE_ENTRIES),
        "Completed generation records kept in memory (0 turns the cache off).",
    ),
    "KUSHROUTER_MCP_CACHE_TTL": (
        f"{DEFAULT_CACHE_TTL_SECONDS:g}",
        "Seconds a cached record is served before it is fetched again (1 to 86400).",
    ),
}


class _LookupSettings(TypedDict):
    batch_concurrency: int
    cache_entries: int
    cache_ttl_seconds: float


def _lookup_settings(env: Mapping[str, str]) -> _LookupSettings:
    """The batch and cache settings from the environment, as Settings keyword arguments."""
    return {
        "batch_concurrency": _env_number(
            env, "KUSHROUTER_MCP_BATCH_CONCURRENCY", int, DEFAULT_BATCH_CONCURRENCY, 1, 64
        ),
        "cache_entries": _env_number(
            env, "KUSHROUTER_MCP_CACHE_SIZE", int, DEFAULT_CACHE_ENTRIES, 0, 1_000_000
        ),
        "cache_ttl_seconds": _env_number(
            env, "KUSHROUTER_MCP_CACHE_TTL", float, DEFAULT_CACHE_TTL_SECONDS, 1, 86400
        ),
    }


# --- End of batch and cache settings -----------------------------------------------------------

# name -> (default shown in docs and --help, meaning)
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "KUSHROUTER_API_KEY": (
        "(none)",
        "KushRouter API key (kr_…) used by get_generation. Not needed for extraction.",
    ),
    "KUSHROUTER_BASE_URL": (
        DEFAULT_BASE_URL,
        "KushRouter API base URL (point it at the sandbox to work offline).",
    ),
    "KUSHROUTER_TIMEOUT": (
        f"{DEFAULT_TIMEOUT_SECONDS:g}",
        "Seconds one lookup may take in all, retries and waits included.",
    ),
    "KUSHROUTER_MAX_RETRIES": (
        str(DEFAULT_MAX_RETRIES),
        "Retries after a 429, 5xx or connection error (0 turns retries off).",
    ),
    "KUSHROUTER_MCP_MAX_PAYLOAD_CHARS": (
        str(DEFAULT_MAX_PAYLOAD_CHARS),
        "Largest payload extract_generation_id reads, in characters.",
    ),
    "KUSHROUTER_MCP_MAX_BODY_BYTES": (
        str(DEFAULT_MAX_BODY_BYTES),
        "HTTP transport: largest request body; larger ones get 413.",
    ),
    "KUSHROUTER_MCP_LOG_LEVEL": ("WARNING", "Log level on stderr: DEBUG, INFO, WARNING, ERROR."),
    **LOOKUP_ENVIRONMENT,
}


class ConfigError(ValueError):
    """A setting has a value the server cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    api_key: ApiKey | None = None
    base_url: str = DEFAULT_BASE_URL
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_retries: int = DEFAULT_MAX_RETRIES
    max_payload_chars: int = DEFAULT_MAX_PAYLOAD_CHARS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    log_level: str = "WARNING"
    batch_concurrency: int = DEFAULT_BATCH_CONCURRENCY
    cache_entries: int = DEFAULT_CACHE_ENTRIES
    cache_ttl_seconds: float = DEFAULT_CACHE_TTL_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        raw_key = env.get("KUSHROUTER_API_KEY", "").strip()
        return cls(
            api_key=ApiKey(raw_key) if raw_key else None,
            base_url=_base_url(env.get("KUSHROUTER_BASE_URL", "").strip() or DEFAULT_BASE_URL),
            timeout_seconds=_env_number(env, "KUSHROUTER_TIMEOUT", float, DEFAULT_TIMEOUT_SECONDS, 0.1, 600),
            max_retries=_env_number(env, "KUSHROUTER_MAX_RETRIES", int, DEFAULT_MAX_RETRIES, 0, 10),
            max_payload_chars=_env_number(
                env, "KUSHROUTER_MCP_MAX_PAYLOAD_CHARS", int, DEFAULT_MAX_PAYLOAD_CHARS, 1, 2**31
            ),
            max_body_bytes=parse_max_body_bytes(env.get("KUSHROUTER_MCP_MAX_BODY_BYTES", "")),
            log_level=parse_log_level(env.get("KUSHROUTER_MCP_LOG_LEVEL", "WARNING")),
            **_lookup_settings(env),
        )


_Number = TypeVar("_Number", int, float)


def _number(
    raw: str,
    name: str,
    kind: Callable[[str], _Number],
    default: _Number,
    low: _Number,
    high: _Number,
) -> _Number:
    """`raw` as a number within [low, high]; empty means the default. `name` says where it came from."""
    raw = raw.strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; unset it to use the default {default}.") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} is out of range; use a value from {low} to {high}.")
    return value


def _env_number(
    env: Mapping[str, str],
    name: str,
    kind: Callable[[str], _Number],
    default: _Number,
    low: _Number,
    high: _Number,
) -> _Number:
    """The variable `name` as a number within [low, high]; unset or empty means the default."""
    return _number(env.get(name, ""), name, kind, default, low, high)


def parse_max_body_bytes(raw: str | int, source: str = "KUSHROUTER_MCP_MAX_BODY_BYTES") -> int:
    """One rule for the HTTP body limit, whether it comes from the environment or --max-body-bytes."""
    return _number(str(raw), source, int, DEFAULT_MAX_BODY_BYTES, 1024, 2**31)


def _base_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            f"KUSHROUTER_BASE_URL={raw!r} is not an http(s) base URL like {DEFAULT_BASE_URL}; "
            "give the scheme and host only (a path prefix is fine)."
        )
    if parts.username or parts.password:
        raise ConfigError("KUSHROUTER_BASE_URL must not hold credentials; put the key in KUSHROUTER_API_KEY.")
    return raw.rstrip("/")


def parse_log_level(raw: str, source: str = "KUSHROUTER_MCP_LOG_LEVEL") -> str:
    level = raw.strip().upper() or "WARNING"
    if level not in LOG_LEVELS:
        raise ConfigError(f"{source}={raw!r} is not one of {', '.join(LOG_LEVELS)}.")
    return level


# --- HTTP serving for a team: key mode, access tokens, exposure --------------------------------

ENVIRONMENT.update(
    {
        "KUSHROUTER_MCP_KEY_MODE": (
            "server-key",
            "HTTP transport: server-key (callers present an access token; lookups use "
            "KUSHROUTER_API_KEY) or per-request (callers present their own kr_… key).",
        ),
        "KUSHROUTER_MCP_TOKENS": (
            "(none)",
            "HTTP server-key mode: access tokens callers may present as Bearer, comma-separated.",
        ),
        "KUSHROUTER_MCP_TOKENS_FILE": (
            "(none)",
            "HTTP server-key mode: file of access tokens, one per line (# starts a comment).",
        ),
        "KUSHROUTER_MCP_ALLOWED_HOSTS": (
            "(loopback and the bound address)",
            "HTTP: more Host values to accept, comma-separated (host or host:port; host:* for any port).",
        ),
        "KUSHROUTER_MCP_ALLOWED_ORIGINS": (
            "(loopback and the bound address)",
            "HTTP: more browser Origins to accept, comma-separated (https://app.example.com).",
        ),
    }
)

SERVER_KEY = "server-key"
PER_REQUEST = "per-request"
KEY_MODES = (SERVER_KEY, PER_REQUEST)
_MIN_TOKEN_CHARS = 16
DEFAULT_GRACEFUL_SECONDS = 25  # a lookup takes at most KUSHROUTER_TIMEOUT (20 s) by default


@dataclass(frozen=True)
class HttpSettings:
    """Who may call the HTTP server and what it answers to. Tokens never show in the repr."""

    key_mode: str = SERVER_KEY
    tokens: tuple[str, ...] = field(default=(), repr=False)
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HttpSettings:
        env = os.environ if environ is None else environ
        return cls(
            key_mode=parse_key_mode(env.get("KUSHROUTER_MCP_KEY_MODE", "")),
            tokens=_tokens(env.get("KUSHROUTER_MCP_TOKENS", ""), env.get("KUSHROUTER_MCP_TOKENS_FILE", "")),
            allowed_hosts=parse_list(env.get("KUSHROUTER_MCP_ALLOWED_HOSTS", "")),
            allowed_origins=parse_list(env.get("KUSHROUTER_MCP_ALLOWED_ORIGINS", "")),
        )


def parse_key_mode(raw: str) -> str:
    mode = raw.strip().lower() or SERVER_KEY
    if mode not in KEY_MODES:
        raise ConfigError(f"KUSHROUTER_MCP_KEY_MODE={raw!r} is not server-key or per-request.")
    return mode


def parse_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _tokens(inline: str, path: str) -> tuple[str, ...]:
    """Tokens from the variable and the file together; each long enough not to be guessed."""
    tokens = list(parse_list(inline))
    if path.strip():
        try:
            text = Path(path.strip()).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(
                f"KUSHROUTER_MCP_TOKENS_FILE: cannot read {path.strip()!r} ({error.strerror})."
            ) from None
        lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
        tokens.extend(line for line in lines if line)
    for number, token in enumerate(tokens, 1):
        if len(token) < _MIN_TOKEN_CHARS or any(c.isspace() or not c.isprintable() for c in token):
            raise ConfigError(
                f"Access token #{number} is too short or has spaces: use at least {_MIN_TOKEN_CHARS} "
                "printable characters without spaces, e.g. from "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
            )
    return tuple(dict.fromkeys(tokens))
