"""Every setting, declared once: the fields of `Settings` and `HttpSettings` are the settings table.

Each `setting(...)` states the variable, the flag, the type, the default, the allowed values and
the help; reading, validation messages, `--help` and the table in docs/configuration.md come from it (see
`table.py`). Adding a setting is adding one field here. A bad value stops start-up with a message
naming the variable or flag it came from; secrets (the API key, access tokens) never show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit, urlunsplit

from . import database
from .database import DatabaseUrl
from .keys import ApiKey
from .setting import (
    OFF_WORDS,
    ON_WORDS,
    Choice,
    ConfigError,
    Key,
    Number,
    Switch,
    Text,
    Tokens,
    Words,
    read_settings,
    setting,
)

if TYPE_CHECKING:  # read only when a prices file is set: a start without one pays for none of it
    from .prices_file import PricesFile

__all__ = ["ConfigError", "HttpSettings", "Settings"]

DEFAULT_BASE_URL = "https://api.kushrouter.com"
API_PATH = "/api/v1"  # the upstream client adds it to the base URL
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SERVER_KEY = "server-key"
PER_REQUEST = "per-request"
KEY_MODES = (SERVER_KEY, PER_REQUEST)


def _without_credentials(raw: str, refusal: str) -> SplitResult:
    """The URL's parts; a user or password in it stops start-up with `refusal`, which names the
    setting but not the value. Checked before anything else: other messages echo the value."""
    parts = urlsplit(raw)
    if parts.username or parts.password:
        raise ConfigError(refusal)
    return parts


def _is_http(parts: SplitResult) -> bool:
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class BaseUrl:
    """An http(s) base URL: scheme, host, an optional path prefix; never credentials."""

    metavar = "URL"

    def parse(self, raw: str, given: str) -> str:
        parts = _without_credentials(
            raw, "KUSHROUTER_BASE_URL must not hold credentials; put the key in KUSHROUTER_API_KEY."
        )
        if not _is_http(parts) or parts.query or parts.fragment:
            raise ConfigError(
                f"{given} is not an http(s) base URL like {DEFAULT_BASE_URL}; "
                "give the scheme and host only (a path prefix is fine)."
            )
        # A base URL ending in the API path is understood, not refused: OpenAI-style clients are
        # configured with .../api/v1, so that is what users paste, and no KushRouter serves its API
        # at /api/v1/api/v1. Left as is, every lookup would go there and answer "not found".
        path = parts.path.rstrip("/")
        if path.endswith(API_PATH):
            path = path[: -len(API_PATH)]
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))

    def allowed(self) -> str:
        return "http(s) URL"


PRICES_OFF = "off"
PRICES_UPDATE_ON = "on"


class Prices:
    """`off`, or the path of the user's prices file, read and checked now (a bad one stops start-up)."""

    metavar = "FILE|off"

    def parse(self, raw: str, given: str) -> PricesFile | str:
        if raw.lower() == PRICES_OFF:
            return PRICES_OFF
        from .prices_file import read_prices_file

        return read_prices_file(raw, given)

    def allowed(self) -> str:
        return "a .toml or .json file, or off"


class PricesUpdate:
    """`off`, `on` (genai-prices' own source), or the http(s) URL of a copy of that data."""

    metavar = "off|on|URL"

    def parse(self, raw: str, given: str) -> str | None:
        if raw.lower() in OFF_WORDS:
            return None
        if raw.lower() in ON_WORDS:
            return PRICES_UPDATE_ON
        parts = _without_credentials(raw, "KUSHROUTER_MCP_PRICES_UPDATE must not hold credentials.")
        if not _is_http(parts):
            raise ConfigError(f"{given} is not off, on or an http(s) URL of genai-prices data.")
        return raw

    def allowed(self) -> str:
        return "off, on or an http(s) URL"


LEDGER_OFF = "off"


class LedgerLocation:
    """`off`, a PostgreSQL connection string (URL or key/value; needs the postgres extra), or the
    ledger's file path (made absolute; the file is created on the first write)."""

    metavar = "FILE|URL|off"

    def parse(self, raw: str, given: str) -> str | DatabaseUrl:
        if raw.strip().lower() in OFF_WORDS:
            return LEDGER_OFF
        if database.is_connection_string(raw):
            return _database_url(raw)
        if "://" in raw:  # no value in the message: another database's URL may hold a password
            raise ConfigError(
                "KUSHROUTER_MCP_LEDGER is a URL but not a postgresql:// one; give a PostgreSQL URL, "
                "a file path, or off."
            )
        path = Path(raw).expanduser().absolute()
        if path.is_dir():
            raise ConfigError(f"{given} is a directory; give a file in it, e.g. {path / 'ledger.sqlite3'}.")
        return str(path)

    def allowed(self) -> str:
        return "a file path, a postgresql:// URL or key/value string, or off"


def _database_url(raw: str) -> DatabaseUrl:
    """The connection string, if the driver is there to use it (looked for, not imported: a start
    pays for psycopg only when the ledger is first used)."""
    if find_spec("psycopg") is None or find_spec("psycopg_pool") is None:
        raise ConfigError(
            "KUSHROUTER_MCP_LEDGER names a PostgreSQL database, but the PostgreSQL driver is not "
            f"installed: {database.INSTALL_EXTRA} (or set KUSHROUTER_MCP_LEDGER to a file path or off)."
        )
    return DatabaseUrl(raw)


@dataclass(frozen=True)
class Settings:
    """What every transport needs: the upstream, its limits, the cache, logging."""

    api_key: ApiKey | None = setting(
        Key(),
        None,
        "Your KushRouter API key (`kr_…`), used only in the `Authorization` header of lookups; never "
        "logged or shown. Only the key that created a generation can read it. Extraction needs none.",
        env="KUSHROUTER_API_KEY",
        secret=True,
        guesses=("--api-key", "--key", "--apikey", "--secret"),
    )
    base_url: str = setting(
        BaseUrl(),
        DEFAULT_BASE_URL,
        "KushRouter API base URL; point it at the sandbox to work offline. A trailing `/api/v1` is "
        "understood.",
        env="KUSHROUTER_BASE_URL",
        guesses=("--base-url", "--url", "--api-url", "--api-base", "--endpoint"),
    )
    timeout_seconds: float = setting(
        Number(float, 0.1, 600.0),
        20.0,
        "Seconds one lookup may take in all: every attempt, retry and wait included.",
        env="KUSHROUTER_TIMEOUT",
    )
    max_retries: int = setting(
        Number(int, 0, 10),
        3,
        "Retries after a 429, a 5xx or a connection error (0 turns retries off).",
        env="KUSHROUTER_MAX_RETRIES",
    )
    max_payload_chars: int = setting(
        Number(int, 1, 2**31),
        16 * 1024 * 1024,
        "Largest payload `extract_generation_id` reads, in characters; over it, a clear isError.",
        env="KUSHROUTER_MCP_MAX_PAYLOAD_CHARS",
        shown_default="16777216 (16 Mi)",
    )
    max_body_bytes: int = setting(
        Number(int, 1024, 2**31),
        32 * 1024 * 1024,
        "Largest request body; larger ones get 413. Larger than the payload limit because "
        "JSON-escaping a captured stream makes it grow.",
        env="KUSHROUTER_MCP_MAX_BODY_BYTES",
        flag="--max-body-bytes",
        shown_default="33554432 (32 MiB)",
        http_only=True,
    )
    log_level: str = setting(
        Choice(LOG_LEVELS, str.upper, "LEVEL"),
        "WARNING",
        "Log level on stderr. At INFO each lookup logs its status and the upstream `x-request-id`.",
        env="KUSHROUTER_MCP_LOG_LEVEL",
        flag="--log-level",
    )
    batch_concurrency: int = setting(
        Number(int, 1, 64),
        8,
        "Lookups `get_generations` runs at once.",
        env="KUSHROUTER_MCP_BATCH_CONCURRENCY",
    )
    cache_entries: int = setting(
        Number(int, 0, 1_000_000),
        1024,
        "Completed generation records kept in memory (0 turns the cache off).",
        env="KUSHROUTER_MCP_CACHE_SIZE",
    )
    cache_ttl_seconds: float = setting(
        Number(float, 1.0, 86400.0),
        3600.0,  # records are kept 7 days upstream; an hour is far inside that
        "Seconds a cached record is served before it is fetched again.",
        env="KUSHROUTER_MCP_CACHE_TTL",
    )
    prices: PricesFile | str | None = setting(
        Prices(),
        None,
        "Cost estimates: a TOML or JSON file of your own USD prices per million tokens, which win over "
        "the list prices of genai-prices (README, 'Cost'); `off` turns estimates off.",
        env="KUSHROUTER_MCP_PRICES",
        shown_default="(list prices)",
    )
    prices_update: str | None = setting(
        PricesUpdate(),
        None,
        "Fetch newer genai-prices data once, in the background, when the first cost is estimated: "
        "`on` (genai-prices' own source) or the http(s) URL of a copy. A failed fetch keeps the "
        "bundled data and logs a warning.",
        env="KUSHROUTER_MCP_PRICES_UPDATE",
        shown_default="off",
    )

    ledger: str | DatabaseUrl | None = setting(
        LedgerLocation(),
        None,
        "The usage ledger: every record looked up is kept, for `usage_report` and `kushrouter-mcp "
        "report` (README, 'Usage history'), in this SQLite file, or in PostgreSQL given a "
        "`postgresql://…` URL or key/value string (extra `[postgres]`; replicas share it; README, "
        "'Deploying for a team'); `off` keeps nothing.",
        env="KUSHROUTER_MCP_LEDGER",
        shown_default="(your data directory)/ledger.sqlite3",
    )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, flags: Mapping[str, object] | None = None
    ) -> Settings:
        """The environment's settings (os.environ by default), with `flags` (by field name) winning."""
        return read_settings(cls, environ, flags)

    def log_secrets(self) -> list[str]:
        """What no log line may show: the API key, the ledger database's password."""
        key = [self.api_key.reveal()] if self.api_key else []
        return key + (self.ledger.passwords() if isinstance(self.ledger, DatabaseUrl) else [])


@dataclass(frozen=True)
class HttpSettings:
    """Where and how the HTTP transport serves, and who may call it. Tokens never show."""

    host: str = setting(
        Text("ADDRESS"),
        "127.0.0.1",
        "Address to bind; off loopback, callers must authenticate.",
        flag="--host",
    )
    port: int = setting(Number(int, 1, 65535, "PORT"), 8000, "Port to listen on.", flag="--port")
    key_mode: str = setting(
        Choice(KEY_MODES, str.lower, "MODE"),
        SERVER_KEY,
        "`server-key`: callers present an access token and lookups use `KUSHROUTER_API_KEY`. "
        "`per-request`: callers present their own KushRouter key as `Authorization: Bearer kr_…`, "
        "used for their calls only (the server sees users' keys: run it behind TLS).",
        env="KUSHROUTER_MCP_KEY_MODE",
        flag="--key-mode",
    )
    tokens: tuple[str, ...] = setting(
        Tokens(),
        (),
        "Server-key mode: access tokens callers present as `Authorization: Bearer <token>`.",
        env="KUSHROUTER_MCP_TOKENS",
        secret=True,
        file_env="KUSHROUTER_MCP_TOKENS_FILE",
        file_help="Server-key mode: a file of access tokens, one per line (`#` starts a comment); "
        "adds to `KUSHROUTER_MCP_TOKENS`.",
        guesses=("--token", "--access-token", "--auth-token", "--bearer", "--token-file"),
    )
    allowed_hosts: tuple[str, ...] = setting(
        Words("HOSTS"),
        (),
        "More `Host` values to accept (host or host:port; host:* for any port), e.g. a reverse "
        "proxy's public name.",
        env="KUSHROUTER_MCP_ALLOWED_HOSTS",
        flag="--allowed-hosts",
        shown_default="(loopback and the bound address)",
    )
    allowed_origins: tuple[str, ...] = setting(
        Words("ORIGINS"),
        (),
        "More browser `Origin`s to accept, e.g. https://app.example.com.",
        env="KUSHROUTER_MCP_ALLOWED_ORIGINS",
        flag="--allowed-origins",
        shown_default="(loopback and the bound address)",
    )
    stateless: bool = setting(
        Switch(),
        False,
        "Stateless streamable HTTP with JSON responses: any replica or worker answers any request, "
        "no sticky sessions. Progress notifications can't be delivered in this mode.",
        flag="--stateless",
    )
    workers: int = setting(
        Number(int, 1, 64), 1, "uvicorn worker processes; more than 1 needs --stateless.", flag="--workers"
    )
    graceful_seconds: int = setting(
        Number(int, 0, 3600),
        25,  # a lookup takes at most KUSHROUTER_TIMEOUT (20 s) by default
        "On SIGTERM, seconds in-flight calls may take to finish; each still running is then "
        "answered with a JSON-RPC error saying the server is stopping, and the process exits 0.",
        flag="--graceful-timeout",
    )

    # --- Limits: what one server process holds for its callers at most (docs/limits.md) ---------
    session_idle_seconds: float = setting(
        Number(float, 10.0, 86400.0),
        1800.0,  # the SDK's own default: 30 minutes
        "Seconds a session may go with no request in flight and no open GET stream; then it is "
        "closed and its id answers 404.",
        env="KUSHROUTER_MCP_SESSION_IDLE_SECONDS",
    )
    max_sessions: int = setting(
        Number(int, 1, 100_000),
        1000,
        "Open sessions in all, per process; a request that would open one more gets 503.",
        env="KUSHROUTER_MCP_MAX_SESSIONS",
    )
    max_sessions_per_caller: int = setting(
        Number(int, 1, 10_000),
        20,
        "Open sessions per access token or KushRouter key; one more gets 429.",
        env="KUSHROUTER_MCP_MAX_SESSIONS_PER_CALLER",
    )
    header_timeout_seconds: float = setting(
        Number(float, 1.0, 300.0),
        20.0,
        "Seconds a connection may take to send a complete request head (from its opening or its last "
        "response); then it gets 408 and is closed.",
        env="KUSHROUTER_MCP_HEADER_TIMEOUT",
    )
    max_connections: int = setting(
        Number(int, 16, 100_000),
        1000,
        "Open connections per process; at the cap the one waiting longest for its request head makes "
        "room, or, all busy, the new one gets 503.",
        env="KUSHROUTER_MCP_MAX_CONNECTIONS",
    )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, flags: Mapping[str, object] | None = None
    ) -> HttpSettings:
        http = read_settings(cls, environ, flags)
        if http.workers > 1 and not http.stateless:
            raise ConfigError(
                "--workers above 1 needs --stateless: a session lives in the worker that opened it, and "
                "the next request may reach another one."
            )
        return http
