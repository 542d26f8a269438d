"""The usage dashboard: one self-contained HTML page, served as an MCP Apps view and written as a report.

Hosts that negotiated the MCP Apps extension (`io.modelcontextprotocol/ui`) render the page next to the
results of the tools bound to it; the others see only the tools' usual text and structured content,
which the binding leaves unchanged. The page is built from ui/ at development time and shipped in the
package; it is read when asked for, so start-up never touches it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from mcp.server.apps import APP_MIME_TYPE, Apps
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.server.mcpserver.resources import FileResource

RESOURCE_URI = "ui://kushrouter/usage-dashboard.html"
PAGE = Path(__file__).resolve().parent / "ui" / "usage-dashboard.html"
# The page's empty data slot: the HTML report fills it; the in-chat view gets its data from the host.
DATA_SLOT = '<script type="application/json" id="kushrouter-data"></script>'


class PageMissing(Exception):
    """The installed dashboard page cannot be read."""


def read_page(path: Path = PAGE) -> str:
    """The dashboard page's HTML; PageMissing says why not and what to do."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise PageMissing(
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
        raise PageMissing(
            f"The usage dashboard page {page} has no single data slot ({DATA_SLOT}); reinstall kushrouter-mcp"
        )
    data = {"tool": "usage_report", "structuredContent": structured_content}
    embedded = json.dumps(data, ensure_ascii=False).translate(_SCRIPT_SAFE)
    return html.replace(DATA_SLOT, DATA_SLOT.replace("></", f">{embedded}</"))


class DashboardPage(FileResource):
    """The page as a lazy resource: read on each resources/read, a clear MCP error if it cannot be."""

    async def read(self) -> str | bytes:
        try:
            return await anyio.to_thread.run_sync(read_page, self.path)
        except PageMissing as missing:
            raise ResourceError(str(missing)) from None


def apps(page: Path = PAGE) -> Apps:
    """The MCP Apps extension holding the dashboard resource; bind tools with `apps.tool(...)`."""
    extension = Apps()
    extension.add_resource(
        DashboardPage(
            uri=RESOURCE_URI,
            name="usage-dashboard",
            title="KushRouter usage dashboard",
            description="A chart and totals of the usage a usage_report or get_generations result holds. "
            "Self-contained: it loads nothing from anywhere.",
            mime_type=APP_MIME_TYPE,
            path=page,
            # Hosts draw a frame around it: the chart sits in the conversation like a card.
            meta={"ui": {"prefersBorder": True}},
        )
    )
    return extension
