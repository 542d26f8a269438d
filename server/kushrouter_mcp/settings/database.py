"""A PostgreSQL connection string for the ledger: a libpq URL (`postgresql://…`, `postgres://…`) or
key/value string (`host=… dbname=… user=… password=… sslmode=require`).

The string is kept as given (libpq reads every option, TLS ones included) and shown only redacted:
its password may legitimately be there, and must never reach a log line, an error or /healthz.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

SCHEMES = ("postgresql://", "postgres://")
REDACTED = "***"
INSTALL_EXTRA = "pip install 'kushrouter-mcp[postgres]'"
# libpq's key/value form: `key=value` pairs, a value bare or single-quoted (backslash escapes).
_PAIR = re.compile(r"\s*([A-Za-z_]+)\s*=\s*('(?:\\.|[^\\'])*'|(?:\\.|[^\s\\'])*)")
# Keywords that make a string a connection string rather than a file name with `=` in it.
_KEYWORDS = frozenset(
    ("host", "hostaddr", "port", "dbname", "user", "password", "passfile", "service", "sslmode")
)


def is_url(raw: str) -> bool:
    return raw.strip().lower().startswith(SCHEMES)


def key_value_pairs(raw: str) -> list[tuple[str, str]] | None:
    """The pairs of a libpq key/value string (values unquoted), or None if `raw` is not one."""
    pairs, position = [], 0
    while position < len(raw.rstrip()):
        found = _PAIR.match(raw, position)
        if found is None:
            return None
        value = found[2]
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        pairs.append((found[1].lower(), value))
        position = found.end()
    return pairs if any(name in _KEYWORDS for name, _ in pairs) else None


def is_connection_string(raw: str) -> bool:
    return is_url(raw) or key_value_pairs(raw) is not None


def redact(conninfo: str) -> str:
    """The connection string with every password replaced by ***."""
    if is_url(conninfo):
        scheme, rest = conninfo.split("://", 1)
        authority, slash, tail = rest.partition("/")
        userinfo, at, hosts = authority.rpartition("@")
        if at and ":" in userinfo:
            authority = f"{userinfo.split(':', 1)[0]}:{REDACTED}@{hosts}"
        tail = re.sub(r"(?i)(^|[?&])(password=)[^&#]*", rf"\1\2{REDACTED}", tail)
        if not slash:  # no path: a query may follow the hosts directly
            authority = re.sub(r"(?i)([?&])(password=)[^&#]*", rf"\1\2{REDACTED}", authority)
        return f"{scheme}://{authority}{slash}{tail}"
    return _PAIR.sub(_redact_pair, conninfo)


def _redact_pair(found: re.Match[str]) -> str:
    if found[1].lower() != "password":
        return found[0]
    return found[0][: found.start(2) - found.start(0)] + REDACTED


class DatabaseUrl:
    """The ledger's PostgreSQL connection string: readable where a connection is made, redacted
    everywhere else (str, repr, messages)."""

    __slots__ = ("_conninfo",)

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo.strip()

    def reveal(self) -> str:
        return self._conninfo

    def passwords(self) -> list[str]:
        """Every form the password takes in the string (as written and percent-decoded): what logs
        are scrubbed of."""
        found: list[str] = []
        if is_url(self._conninfo):
            parts = urlsplit(self._conninfo)
            if parts.password:
                found += [parts.password, unquote(parts.password)]
            found += [value for name, value in parse_qsl(parts.query) if name.lower() == "password"]
        else:
            found += [value for name, value in key_value_pairs(self._conninfo) or [] if name == "password"]
        return sorted({secret for secret in found if secret}, key=len, reverse=True)

    def __str__(self) -> str:
        return redact(self._conninfo)

    def __repr__(self) -> str:
        return f"DatabaseUrl({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatabaseUrl) and other._conninfo == self._conninfo

    def __hash__(self) -> int:
        return hash(self._conninfo)
