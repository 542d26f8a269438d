"""The usage dashboard as an MCP Apps view: the page (face/dashboard_page.py) as a `ui://` resource.

Hosts that negotiated the MCP Apps extension (`io.modelcontextprotocol/ui`) render the page next to the
results of the tools bound to it; the others see only the tools' usual text and structured content,
which the binding leaves unchanged. The page is read when a client asks for it, so start-up never
touches it.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from mcp.server.apps import APP_MIME_TYPE, Apps
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.server.mcpserver.resources import FileResource

from .dashboard_page import PAGE, PageUnusable, read_page

RESOURCE_URI = "ui://kushrouter/usage-dashboard.html"


class DashboardPage(FileResource):
    """The page as a lazy resource: read on each resources/read, a clear MCP error if it cannot be."""

    async def read(self) -> str | bytes:
        try:
            return await anyio.to_thread.run_sync(read_page, self.path)
        except PageUnusable as unusable:
            raise ResourceError(str(unusable)) from None


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
