"""Logging to stderr only (stdout is the MCP channel in stdio mode), with secrets scrubbed."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactSecrets(logging.Filter):
    """Last line of defence: no log record leaves with a configured secret in it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [secret for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a log call with bad arguments: log it as it is; raising would hit its caller
            message = f"{record.msg} (arguments that don't fit: {record.args!r})"
        record.msg, record.args = self._scrub(message), None
        if record.exc_info and not record.exc_text:  # tracebacks quote exception messages
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        return True

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Install the one stderr handler before the SDK's basicConfig can add its own."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO; ours already logs status and x-request-id.
    for noisy in ("httpx", "httpcore", "httpx2"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # The ledger's connection pool warns at every failed reconnection while PostgreSQL is down; the
    # ledger itself warns once per distinct problem, with the cause.
    logging.getLogger("psycopg.pool").setLevel(max(logging.ERROR, logging.getLevelName(level)))
