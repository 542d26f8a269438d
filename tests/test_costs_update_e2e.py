"""List prices off the start path, and the opt-in update of their data, in a real stdio server process.

The newer data comes from a loopback HTTP server started here (a minimal genai-prices v2 data
file: one provider, one model, prices no real model has), so the test sees both that the fetch
ran and that its prices were then used. Python's own import-time report (PYTHONPROFILEIMPORTTIME,
written to stderr as each module loads) shows when genai-prices is imported.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest
from genai_prices.types import ModelPrice, _providers_from_raw
from mcp import Client

from conftest import stdio_server
from costs_helpers import BUNDLED, Prices, assert_estimate, record_prices, text_of
from kushrouter_mcp.sandbox.processes import free_port
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import ANTHROPIC_ID, CHAT_ID, SEED_RECORDS

pytestmark = pytest.mark.anyio

# genai-prices' v2 data (what UpdatePrices.fetch reads): a list of providers, each with its models.
NEWER_DATA: list[dict[str, Any]] = [
    {
        "id": "openai",
        "name": "OpenAI",
        "api_pattern": r"https://api\.openai\.com",
        "model_match": {"starts_with": "gpt-"},
        "models": [
            {
                "id": "gpt-5-mini",
                "match": {"starts_with": "gpt-5-mini"},
                "prices": {"input_mtok": 7, "output_mtok": 70},
            }
        ],
    }
]
NEWER_PRICES = Prices(Decimal(7), Decimal(70), None, None, "gpt-5-mini", "openai", "")
UPDATE_WARNING = "could not fetch newer genai-prices data"
MIRROR_TOKEN = "mirror-token-5f1c9e"
POLL_INTERVAL, POLLS = 0.1, 50  # up to 5 s


class DataServer:
    """A loopback HTTP server that serves NEWER_DATA at /data.json and remembers every request."""

    def __init__(self) -> None:
        body = json.dumps(NEWER_DATA).encode()
        self.requests: list[str] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                found = self.path == "/data.json"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if found else 0))
                self.end_headers()
                if found:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/data.json"
        self.thread = threading.Thread(target=self.http.serve_forever, name="genai-prices data", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def data_server() -> Iterator[DataServer]:
    server = DataServer()
    yield server
    server.close()


def imported_genai_prices(stderr_log: Path) -> bool:
    """Whether the server's import-time report so far shows genai_prices loaded."""
    return any(
        line.startswith("import time:") and line.rstrip().endswith("genai_prices")
        for line in stderr_log.read_text().splitlines()
    )


async def estimate_of(client: Client, gen_id: str = CHAT_ID) -> dict[str, Any]:
    result = await client.call_tool("get_generation", {"id": gen_id})
    assert not result.is_error, text_of(result)
    estimate: dict[str, Any] = result.structured_content["estimated_cost"]
    return estimate


def test_the_newer_data_is_what_genai_prices_accepts() -> None:
    (provider,) = _providers_from_raw(NEWER_DATA)
    (model,) = provider.models
    assert (provider.id, model.id) == ("openai", "gpt-5-mini") and isinstance(model.prices, ModelPrice)
    assert (model.prices.input_mtok, model.prices.output_mtok) == (Decimal(7), Decimal(70))


async def test_genai_prices_loads_on_the_first_lookup_not_at_start(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    stderr_log = tmp_path / "stderr.log"
    with stderr_log.open("w") as errlog:
        async with stdio_server(sandbox, errlog, PYTHONPROFILEIMPORTTIME="1") as client:
            await client.list_tools()
            assert "import time:" in stderr_log.read_text(), "the probe reports imports"
            assert not imported_genai_prices(stderr_log), "imported before any lookup"
            refused = await client.call_tool("get_generation", {"id": "has space"})  # never looked up
            assert refused.is_error and not imported_genai_prices(stderr_log)
            api = SEED_RECORDS[CHAT_ID]
            assert_estimate(await estimate_of(client), api["endpoint"], api["usage"], record_prices(api))
            assert imported_genai_prices(stderr_log), "the first priced lookup loads it"


async def test_newer_data_is_fetched_once_after_the_first_lookup_and_then_used(
    sandbox: RunningSandbox, tmp_path: Path, data_server: DataServer
) -> None:
    api = SEED_RECORDS[CHAT_ID]
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with stdio_server(sandbox, errlog, KUSHROUTER_MCP_PRICES_UPDATE=data_server.url) as client:
            await client.list_tools()
            await anyio.sleep(0.2)  # a fetch started at start-up would have had time to arrive
            assert data_server.requests == [], "fetched before any lookup"
            first = await estimate_of(client)
            assert first["source"] in (BUNDLED, None) or "data fetched" in first["source"]
            estimate = first
            for _ in range(POLLS):  # lookups until one is priced with the fetched data
                if "data fetched" in (estimate["source"] or ""):
                    break
                await anyio.sleep(POLL_INTERVAL)
                estimate = await estimate_of(client)
    assert data_server.requests == ["/data.json"], "one fetch, of the URL given"
    source = estimate["source"] or ""
    assert source.startswith(BUNDLED.replace(" bundled data", ", data fetched ")) and source.endswith(" UTC")
    newer = dataclasses.replace(NEWER_PRICES, source=source)
    assert_estimate(estimate, api["endpoint"], api["usage"], newer)


async def test_a_failed_fetch_keeps_the_bundled_data_with_one_warning(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    api = SEED_RECORDS[CHAT_ID]
    # Nothing listens there; the query stands for a mirror's access token, which no log may show.
    closed = f"http://127.0.0.1:{free_port()}/data.json?token={MIRROR_TOKEN}"
    stderr_log = tmp_path / "stderr.log"
    with stderr_log.open("w") as errlog:
        async with stdio_server(sandbox, errlog, KUSHROUTER_MCP_PRICES_UPDATE=closed) as client:
            estimates = [await estimate_of(client)]
            for _ in range(POLLS):  # the warning is logged once the fetch has failed
                if UPDATE_WARNING in stderr_log.read_text():
                    break
                await anyio.sleep(POLL_INTERVAL)
            estimates += [await estimate_of(client) for _ in range(3)]
    for estimate in estimates:
        assert_estimate(estimate, api["endpoint"], api["usage"], record_prices(api))
    warnings = [line for line in stderr_log.read_text().splitlines() if UPDATE_WARNING in line]
    assert len(warnings) == 1 and " WARNING " in warnings[0], warnings
    assert BUNDLED in warnings[0], "the warning says what estimates keep using"
    assert "http://127.0.0.1:" in warnings[0] and MIRROR_TOKEN not in stderr_log.read_text()


async def test_a_broken_genai_prices_install_prices_nothing_and_fails_no_lookup(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """genai-prices that can't be imported: every lookup still answers, unpriced and saying why."""
    broken = tmp_path / "broken"
    (broken / "genai_prices").mkdir(parents=True)
    (broken / "genai_prices" / "__init__.py").write_text("raise ImportError('a broken install')\n")
    pythonpath = os.pathsep.join([str(broken), *filter(None, [os.environ.get("PYTHONPATH")])])
    stderr_log = tmp_path / "stderr.log"
    with stderr_log.open("w") as errlog:
        async with stdio_server(sandbox, errlog, PYTHONPATH=pythonpath) as client:
            estimates = [await estimate_of(client) for _ in range(3)]
            batch = await client.call_tool("get_generations", {"ids": [CHAT_ID, ANTHROPIC_ID]})
    for estimate in estimates:
        assert estimate["total"] is None and estimate["source"] is None
        assert "genai-prices could not be loaded (ImportError: a broken install)" in estimate["note"]
        assert "KUSHROUTER_MCP_PRICES" in estimate["note"]
    assert not batch.is_error and batch.structured_content["totals"]["overall"]["unpriced"] == 2
    warnings = [line for line in stderr_log.read_text().splitlines() if "could not be loaded" in line]
    assert len(warnings) == 1 and " WARNING " in warnings[0], "tried once, said once"
