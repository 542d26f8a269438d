"""`kushrouter-mcp demo`: the whole product end to end, offline.

Starts the sandbox API on loopback, starts this server as a subprocess over stdio,
drives it with the SDK's MCP client and prints what an agent would learn, ending with the
usage report of what it looked up. Its ledger is a throwaway file, removed when the demo ends:
the user's own ledger never sees the sandbox's records.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from .processes import kushrouter_command, server_env
from .runner import run_sandbox
from .samples import ALICE_KEY, SAMPLE_PAYLOADS, SEED_RECORDS, UNPRICED_ID


def _first_day() -> str:
    """The UTC day the earliest sample record was made (they are old, so a report must reach back)."""
    earliest = min(record["created_at"] for record in SEED_RECORDS.values())
    return datetime.fromtimestamp(earliest, UTC).date().isoformat()


# Reports count records at the time the request was made: from the first sample's day, all are in it.
REPORT_ARGUMENTS: dict[str, Any] = {"since": _first_day(), "group_by": ["model"]}

_COLUMNS = ("endpoint", "generation id", "model", "payload usage", "billed usage", "match", "billed cost")


def _tokens(usage: dict[str, Any] | None) -> str:
    if not usage:
        return "-"
    return "/".join(
        str(usage.get(name, "-")) for name in ("prompt_tokens", "completion_tokens", "total_tokens")
    )


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [_COLUMNS, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _cost(record: dict[str, Any]) -> str:
    estimate = record.get("estimated_cost") or {}
    total = estimate.get("total")
    return "not priced" if total is None else f"${total:.6f}"


def _short(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _drive(base_url: str, ledger: Path) -> int:
    from mcp import Client, StdioServerParameters

    command, *args = kushrouter_command()
    env = server_env(base_url, ALICE_KEY, KUSHROUTER_MCP_LEDGER=str(ledger))
    server = StdioServerParameters(command=command, args=args, env=env)
    rows: list[tuple[str, ...]] = []
    ids: list[str] = []
    async with Client(server) as client:
        listed = await client.list_tools()
        print(f"Server tools: {', '.join(tool.name for tool in listed.tools)}\n")
        for family, payload in SAMPLE_PAYLOADS.items():
            found = await client.call_tool("extract_generation_id", {"payload": payload})
            if found.is_error or not found.structured_content:
                print(
                    f"extract_generation_id failed on the {family} payload: {_text(found)}", file=sys.stderr
                )
                return 1
            extracted = found.structured_content
            looked_up = await client.call_tool("get_generation", {"id": extracted["id"]})
            if looked_up.is_error or not looked_up.structured_content:
                print(f"get_generation failed for {extracted['id']}: {_text(looked_up)}", file=sys.stderr)
                return 1
            billed = looked_up.structured_content
            seen, paid = _tokens(extracted.get("usage")), _tokens(billed.get("usage"))
            match = "yes" if seen == paid else "NO"
            rows.append(
                (family, _short(extracted["id"]), str(billed.get("model")), seen, paid, match, _cost(billed))
            )
            ids.append(extracted["id"])
        batch = await client.call_tool("get_generations", {"ids": [*ids, UNPRICED_ID]})
        missing = await client.call_tool("get_generation", {"id": "chatcmpl-does-not-exist"})
        report = await client.call_tool("usage_report", REPORT_ARGUMENTS)
    print(_table(rows))
    print(
        "\nUsage columns are prompt/completion/total tokens: what the payload said vs what KushRouter billed."
    )
    print("Billed cost is the billed usage at list price, each cache part at its own rate.")
    print("\nThe same ids and one record of a model no price list knows, in one get_generations call:")
    print(_text(batch))
    print(f"\nA lookup that fails answers with isError={missing.is_error} and advice:\n  {_text(missing)}")
    print(
        "\nEvery record looked up is kept in a ledger on this machine (here a throwaway file), so\n"
        "usage_report answers even after KushRouter has dropped them. "
        f"usage_report {json.dumps(REPORT_ARGUMENTS)}:"
    )
    print(_text(report))
    return 0 if not (batch.is_error or report.is_error) else 1


def _text(result: Any) -> str:
    from mcp.types import TextContent

    return "\n".join(item.text for item in result.content if isinstance(item, TextContent))


def run_demo() -> int:
    with tempfile.TemporaryDirectory(prefix="kushrouter-mcp-demo-") as scratch, run_sandbox() as sandbox:
        print(f"Sandbox KushRouter API on {sandbox.base_url} (demo key, no network needed).")
        return anyio.run(_drive, sandbox.base_url, Path(scratch) / "ledger.sqlite3")
