"""The usage dashboard's page: one self-contained HTML file shipped in the package, read when asked for.

The MCP Apps resource serves it as is (face/dashboard.py); the HTML report fills its data slot with a
report. No SDK here: `kushrouter-mcp report` imports this and nothing of the server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parent / "ui" / "usage-dashboard.html"
# The page's empty data slot: the HTML report fills it; the in-chat view gets its data from the host.
DATA_SLOT = '<script type="application/json" id="kushrouter-data"></script>'


class PageUnusable(Exception):
    """The installed dashboard page cannot be read, or has no data slot: a broken install."""


def read_page(path: Path = PAGE) -> str:
    """The dashboard page's HTML; PageUnusable says why not and what to do."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise PageUnusable(
            f"The usage dashboard page {path} cannot be read ({reason}); reinstall kushrouter-mcp"
        ) from None


# In a <script> element only `</script` (and `<!--`) end or derail it, but a JSON string may hold
# anything a record does: these written as JSON escapes, no record text can close the element.
_SCRIPT_SAFE = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def report_page(structured_content: dict[str, Any], page: Path = PAGE) -> str:
    """The page with a usage_report result in its data slot: the HTML report, readable with no server."""
    html = read_page(page)
    if html.count(DATA_SLOT) != 1:
        raise PageUnusable(
            f"The usage dashboard page {page} has no single data slot ({DATA_SLOT}); reinstall kushrouter-mcp"
        )
    data = {"tool": "usage_report", "structuredContent": structured_content}
    embedded = json.dumps(data, ensure_ascii=False).translate(_SCRIPT_SAFE)
    return html.replace(DATA_SLOT, DATA_SLOT.replace("></", f">{embedded}</"))
