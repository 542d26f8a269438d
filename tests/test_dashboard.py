"""The usage dashboard as MCP Apps hosts and plain clients meet it: real server processes over stdio and
HTTP, one client advertising the Apps extension (`io.modelcontextprotocol/ui`) and one not.

The extension is additive: the bound tools answer both clients alike, the page is a `ui://` resource
any client can list and read, and it loads nothing from outside itself.
"""

from __future__ import annotations

import html.parser
import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.extension import advertise
from mcp.client.stdio import stdio_client
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID, client_supports_apps
from mcp.server.mcpserver import Context
from mcp.types import DiscoverResult

from conftest import server_env
from http_helpers import MODERN, MODES, StartHttp
from kushrouter_mcp.face.app import create_server
from kushrouter_mcp.face.dashboard import RESOURCE_URI
from kushrouter_mcp.face.dashboard_page import PAGE
from kushrouter_mcp.sandbox.processes import kushrouter_command
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import ANTHROPIC_ID, CHAT_ID, RESPONSES_ID, UNPRICED_ID
from kushrouter_mcp.settings.config import Settings

pytestmark = pytest.mark.anyio

BOUND = {"get_generations", "usage_report"}
APPS_CLIENT = [advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]
IDS = [CHAT_ID, RESPONSES_ID, ANTHROPIC_ID, UNPRICED_ID, "chatcmpl-not-there-1"]
# Every seeded record, whatever its date; no default period, so both calls ask for the same one.
REPORT = {"since": "2000-01-01", "until": "2100-01-01", "group_by": ["day", "model"], "limit": 100}
REQUEST_ID = re.compile(r"req_sbx_[0-9a-f]+")  # the sandbox's id for each answer, as KushRouter's
LINKING_ATTRIBUTES = {
    "src",
    "href",
    "xlink:href",
    "action",
    "formaction",
    "poster",
    "srcset",
    "data",
    "background",
}
CSS_REFERENCE = re.compile(r"(?:url\(\s*['\"]?|@import\s+['\"])([^'\")\s]*)", re.IGNORECASE)
# A script handing a literal URL of another origin to what loads it. (URLs as names, like XML
# namespaces and JSON Schema ids, load nothing: the browser test refuses every request a script makes.)
SCRIPT_REQUEST = re.compile(
    r"\b(?:fetch|import|importScripts|EventSource|WebSocket|sendBeacon|open)\(\s*['\"`]((?:https?:)?//[^'\"`]*)"
)

Connect = Callable[[list[Any]], Any]  # extensions -> an async context manager giving a Client


def stdio_connect(sandbox: RunningSandbox, tmp_path: Path, mode: str, **env: str) -> Connect:
    """Each client its own `kushrouter-mcp` process, as each host starts its own; one ledger for all."""
    command, *args = kushrouter_command()
    settings = {"KUSHROUTER_MCP_LEDGER": str(tmp_path / "ledger.sqlite3"), **env}
    params = StdioServerParameters(command=command, args=args, env=server_env(sandbox.base_url, **settings))

    @asynccontextmanager
    async def connect(extensions: list[Any]) -> AsyncIterator[Client]:
        with (tmp_path / f"stderr-{len(extensions)}.log").open("a") as errlog:
            async with Client(
                stdio_client(params, errlog=errlog), mode=mode, extensions=extensions
            ) as client:
                yield client

    return connect


def http_connect(url: str, mode: str) -> Connect:
    @asynccontextmanager
    async def connect(extensions: list[Any]) -> AsyncIterator[Client]:
        async with Client(url, mode=mode, extensions=extensions) as client:
            yield client

    return connect


@pytest.fixture(params=["stdio", "http"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def connect(
    transport: str, sandbox: RunningSandbox, tmp_path: Path, http_server_factory: StartHttp
) -> Callable[[str], Connect]:
    def for_mode(mode: str) -> Connect:
        if transport == "stdio":
            return stdio_connect(sandbox, tmp_path, mode)
        url, _ = http_server_factory(
            server_env(sandbox.base_url, KUSHROUTER_MCP_LEDGER=str(tmp_path / "ledger.sqlite3"))
        )
        return http_connect(url, mode)

    return for_mode


async def answers(client: Client) -> list[Any]:
    """What the two bound tools say, (is_error, every text, structured content) per call, as JSON with
    the one thing that differs between any two calls: the upstream's id for its 404 answer."""
    calls = [("get_generations", {"ids": IDS}), ("usage_report", REPORT)]
    said = []
    for name, arguments in calls:
        result = await client.call_tool(name, arguments)
        said.append((result.is_error, [part.text for part in result.content], result.structured_content))
    return json.loads(REQUEST_ID.sub("req_sbx_ID", json.dumps(said)))


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_with_the_extension_and_one_without_get_the_same_results(
    connect: Callable[[str], Connect], mode: str
) -> None:
    opened = connect(mode)
    async with opened([]) as plain:
        await plain.call_tool(
            "get_generations", {"ids": IDS}
        )  # the ledger holds the records: a report has rows
    async with opened([]) as plain:
        without = await answers(plain)
    async with opened(APPS_CLIENT) as apps:
        with_apps = await answers(apps)
    assert with_apps == without
    (looked_up, report) = without
    assert looked_up[0] is False and looked_up[2]["counts"]["found"] == len(IDS) - 1
    assert "req_sbx_ID" in looked_up[1][0], "the not-found answer is in it"
    assert report[0] is False and report[2]["totals"]["generations"] == len(IDS) - 1, "the report has rows"


@pytest.mark.parametrize("mode", MODES)
async def test_both_clients_see_the_two_tools_bound_to_the_page_and_can_read_it(
    connect: Callable[[str], Connect], mode: str
) -> None:
    opened = connect(mode)
    seen = []
    for extensions in ([], APPS_CLIENT):
        async with opened(extensions) as client:
            tools = (await client.list_tools()).tools
            resources = (await client.list_resources()).resources
            read = await client.read_resource(RESOURCE_URI)
        bound = {tool.name: (tool.meta or {}).get("ui", {}).get("resourceUri") for tool in tools}
        assert {name for name, uri in bound.items() if uri is not None} == BOUND
        assert {bound[name] for name in BOUND} == {RESOURCE_URI}
        (page,) = [resource for resource in resources if resource.uri == RESOURCE_URI]
        assert page.mime_type == APP_MIME_TYPE and page.title and page.description
        (content,) = read.contents
        assert content.mime_type == APP_MIME_TYPE
        assert content.text == PAGE.read_text(encoding="utf-8"), "the installed page, whole"
        seen.append([tool.model_dump() for tool in tools])
    assert seen[0] == seen[1], "the same tools for both clients"


async def test_the_server_advertises_the_extension_where_the_protocol_has_the_field(
    connect: Callable[[str], Connect],
) -> None:
    """Capabilities carry `extensions` from 2026-07-28 on (server/discover); the SDK leaves the field out
    of a 2025-11-25 initialize result, whose schema has none."""
    async with connect(MODERN)(APPS_CLIENT) as client:
        discovered = DiscoverResult.model_validate(await client.session.send_discover(MODERN))
    assert discovered.capabilities.extensions == {EXTENSION_ID: {}}


async def test_the_apps_client_here_really_negotiates_the_extension() -> None:
    """The other tests' 'with the extension' client is one: the server itself sees it (and not the other)."""
    server = create_server(Settings())

    def negotiated(ctx: Context[Any]) -> bool:
        return client_supports_apps(ctx)

    server.add_tool(negotiated, name="negotiated")
    for mode in MODES:
        for extensions, expected in (([], False), (APPS_CLIENT, True)):
            async with Client(server, mode=mode, extensions=extensions) as client:
                result = await client.call_tool("negotiated", {})
            assert result.structured_content == {"result": expected}, (mode, extensions)


class References(html.parser.HTMLParser):
    """Every place a page can name something to load: linking attributes, style text, script text."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.attributes: list[tuple[str, str]] = []
        self.styles: list[str] = []
        self.scripts: list[str] = []
        self._in: str | None = None
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in = tag if tag in ("style", "script") else None
        for name, value in attrs:
            if name in LINKING_ATTRIBUTES and value is not None:
                self.attributes.append((name, value))
            elif name == "style" and value:
                self.styles.append(value)

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self.styles.append(data)
        elif self._in == "script":
            self.scripts.append(data)


def outside_references(page: str) -> list[str]:
    """What in the page would load something from outside it: markup, CSS, a script's literal URL."""
    found = References(page)
    inline = ("data:", "#", "blob:")
    named = [f"{name}={value}" for name, value in found.attributes if not value.strip().startswith(inline)]
    styles = "\n".join(found.styles)
    named += [f"css {ref}" for ref in CSS_REFERENCE.findall(styles) if not ref.startswith(inline)]
    named += [f"script {url}" for url in SCRIPT_REQUEST.findall("\n".join(found.scripts))]
    return named


def test_the_page_loads_nothing_from_outside_itself() -> None:
    assert outside_references(PAGE.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "leak",
    [
        '<script src="https://cdn.example/chart.js"></script>',
        '<link rel="stylesheet" href="//fonts.example/x.css">',
        '<img src="/logo.png">',
        "<style>body { background: url(https://img.example/bg.png) }</style>",
        "<style>@import 'theme.css';</style>",
        "<script>fetch('http://127.0.0.1:9/usage')</script>",
    ],
)
def test_the_outside_reference_check_sees_each_kind(leak: str) -> None:
    page = PAGE.read_text(encoding="utf-8").replace("</body>", f"{leak}</body>")
    assert outside_references(page) != []


# --- A missing page ------------------------------------------------------------------------------


@pytest.fixture
def without_page(tmp_path: Path) -> Path:
    """A copy of the package whose dashboard page is gone (a broken install); its PYTHONPATH."""
    root = tmp_path / "broken-install"
    shutil.copytree(PAGE.parents[2], root / "kushrouter_mcp", ignore=shutil.ignore_patterns("__pycache__"))
    (root / PAGE.relative_to(PAGE.parents[2].parent)).unlink()
    return root


async def test_a_missing_page_is_a_clear_error_and_the_server_serves_on(
    sandbox: RunningSandbox, tmp_path: Path, without_page: Path
) -> None:
    opened = stdio_connect(sandbox, tmp_path, "legacy", PYTHONPATH=str(without_page))
    async with opened(APPS_CLIENT) as client:
        tools = (await client.list_tools()).tools  # started: nothing read the page at start
        assert {tool.name for tool in tools if tool.meta} == BOUND
        with pytest.raises(MCPError) as caught:
            await client.read_resource(RESOURCE_URI)
        message = str(caught.value)
        assert "usage-dashboard.html" in message and "reinstall kushrouter-mcp" in message, message
        looked_up = await client.call_tool("get_generations", {"ids": [CHAT_ID]})
        assert looked_up.is_error is False and looked_up.structured_content["counts"]["found"] == 1
    assert "Traceback" not in server_logs(tmp_path)


def server_logs(folder: Path) -> str:
    return "".join(path.read_text() for path in folder.glob("stderr-*.log"))


def test_a_missing_page_makes_the_html_report_a_one_line_error(tmp_path: Path, without_page: Path) -> None:
    out = tmp_path / "usage.html"
    env = server_env("http://127.0.0.1:9", KUSHROUTER_MCP_LEDGER=str(tmp_path / "ledger.sqlite3"))
    done = subprocess.run(
        kushrouter_command("report", "--format", "html", "--output", str(out)),
        env={**env, "PYTHONPATH": str(without_page)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    error = done.stderr.splitlines()[-1]
    assert error.startswith("kushrouter-mcp: error: The usage dashboard page ") and "reinstall" in error
    assert "Traceback" not in done.stderr and not out.exists()


ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("doc", ["README.md", "docs/dashboard.md"])
def test_the_docs_state_the_page_s_real_size(doc: str) -> None:
    """The README and docs/dashboard.md quote the built page's bytes: a rebuild must update them."""
    stated = re.findall(r"(\d{1,3}(?:,\d{3})+) bytes", (ROOT / doc).read_text(encoding="utf-8"))
    assert stated, f"{doc} states no size in bytes"
    assert {int(size.replace(",", "")) for size in stated} == {PAGE.stat().st_size}
