"""Start-up pays for nothing it doesn't need: what a stdio launch (every IDE start) imports.

The SDK's own imports are its business; ours must not add the HTTP serving stack, the extraction
readers (their patterns compile on import), httpx (imported on the first lookup) or uvicorn's
HTTP protocol (h11), genai-prices (~0.5 s; loaded on the first cost estimate) or the ledger's
sqlite3 and platformdirs (loaded on its first write or report). A fresh
interpreter imports what `kushrouter-mcp` imports before it serves stdio.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

STDIO_START = "import kushrouter_mcp.cli, kushrouter_mcp.face.app, kushrouter_mcp.face.stdio"
DEFERRED = (
    "httpx", "h11", "kushrouter_mcp.serving", "kushrouter_mcp.extraction.extract",
    "genai_prices", "kushrouter_mcp.pricing", "kushrouter_mcp.settings.prices_file",
    "sqlite3", "platformdirs", "kushrouter_mcp.ledger.sqlite",
    "psycopg", "psycopg_pool", "kushrouter_mcp.ledger.postgres",
)  # fmt: skip


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("deferred", DEFERRED)
def test_a_stdio_start_does_not_import(deferred: str) -> None:
    loaded = loaded_after(STDIO_START)
    assert not {name for name in loaded if name == deferred or name.startswith(deferred + ".")}


def test_the_probe_sees_what_is_imported() -> None:
    """The check above could pass by seeing nothing: the same probe sees the deferred ones load."""
    loaded = loaded_after(
        "from kushrouter_mcp.extraction import extract_generations\nimport httpx\n"
        "from kushrouter_mcp.pricing import Pricer\nPricer().load()\n"
        "from kushrouter_mcp.ledger.ledger import default_path\n"
        "from kushrouter_mcp.ledger import sqlite\ndefault_path()\n"
        "from kushrouter_mcp.ledger import postgres"
    )
    assert {"httpx", "kushrouter_mcp.extraction.extract", "genai_prices", "kushrouter_mcp.pricing"} <= loaded
    assert {"sqlite3", "platformdirs", "kushrouter_mcp.ledger.sqlite"} <= loaded
    assert {"psycopg", "psycopg_pool", "kushrouter_mcp.ledger.postgres"} <= loaded


def test_a_start_with_a_postgresql_ledger_imports_no_driver_until_the_ledger_is_used() -> None:
    """Settings naming a database and the server's Ledger made from them: psycopg still unloaded."""
    loaded = loaded_after(
        f"{STDIO_START}\nfrom kushrouter_mcp.settings.config import Settings\n"
        "from kushrouter_mcp.ledger import ledger_for\n"
        "settings = Settings.from_env({'KUSHROUTER_MCP_LEDGER': 'postgresql://u:pw@127.0.0.1:1/db'})\n"
        "ledger = ledger_for(settings)\nassert ledger is not None and 'pw' not in ledger.where"
    )
    assert not {name for name in loaded if name.startswith(("psycopg", "kushrouter_mcp.ledger.postgres"))}
    assert "kushrouter_mcp.ledger.ledger" in loaded, "the probe did make the ledger"
