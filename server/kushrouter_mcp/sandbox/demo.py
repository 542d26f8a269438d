"""`kushrouter-mcp demo`: the whole product end to end, offline.

Starts the sandbox API on loopback, starts this server as a subprocess over stdio,
drives it with the SDK's MCP client and prints what an agent would learn.
"""

from __future__ import annotations

import sys
from typing import Any

import anyio

from .processes import kushrouter_command, server_env
from .runner import run_sandbox
from .samples import ALICE_KEY, SAMPLE_PAYLOADS, UNPRICED_ID

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


async def _drive(base_url: str) -> int:
    from mcp import Client, StdioServerParameters

    command, *args = kushrouter_command()
    server = StdioServerParameters(command=command, args=args, env=server_env(base_url, ALICE_KEY))
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
    print(_table(rows))
    print(
        "\nUsage columns are prompt/completion/total tokens: what the payload said vs what KushRouter billed."
    )
    print("Billed cost is the billed usage at list price, each cache part at its own rate.")
    print("\nThe same ids and one record of a model no price list knows, in one get_generations call:")
    print(_text(batch))
    print(f"\nA lookup that fails answers with isError={missing.is_error} and advice:\n  {_text(missing)}")
    return 0 if not batch.is_error else 1


def _text(result: Any) -> str:
    from mcp.types import TextContent

    return "\n".join(item.text for item in result.content if isinstance(item, TextContent))


def run_demo() -> int:
    with run_sandbox() as sandbox:
        print(f"Sandbox KushRouter API on {sandbox.base_url} (demo key, no network needed).")
        return anyio.run(_drive, sandbox.base_url)
