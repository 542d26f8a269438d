"""End to end: the real server process over stdio and over streamable HTTP, against the sandbox over TCP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from conftest import server_env
from http_helpers import MODERN, StartHttp
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import ANTHROPIC_ID, CHAT_ID, SAMPLE_PAYLOADS, SEED_RECORDS
from priced import api_fields

pytestmark = pytest.mark.anyio


async def exercise(client: Client) -> None:
    """What every transport must do: list both tools, extract, look up, and fail politely."""
    names = {tool.name for tool in (await client.list_tools()).tools}
    assert names == {"get_generation", "get_generations", "extract_generation_id", "usage_report"}
    extracted = await client.call_tool(
        "extract_generation_id", {"payload": SAMPLE_PAYLOADS["anthropic.messages"]}
    )
    assert not extracted.is_error
    assert extracted.structured_content["id"] == ANTHROPIC_ID
    looked_up = await client.call_tool("get_generation", {"id": ANTHROPIC_ID})
    assert not looked_up.is_error
    assert api_fields(looked_up.structured_content) == SEED_RECORDS[ANTHROPIC_ID]
    missing = await client.call_tool("get_generation", {"id": "chatcmpl-missing-1"})
    assert missing.is_error and "404" in missing.content[0].text
    bad = await client.call_tool("get_generation", {"id": "has space"})
    assert bad.is_error and "whitespace" in bad.content[0].text


def stdio_params(sandbox: RunningSandbox, **extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "kushrouter_mcp"], env=server_env(sandbox.base_url, **extra)
    )


@pytest.mark.parametrize("mode", ["legacy", MODERN])
async def test_stdio(sandbox: RunningSandbox, tmp_path: Path, mode: str) -> None:
    errors = tmp_path / "stderr.log"
    with errors.open("w") as errlog:
        params = stdio_params(sandbox, KUSHROUTER_MCP_LOG_LEVEL="INFO")
        async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:
            await exercise(client)
            if mode == MODERN:
                assert client.protocol_version == MODERN
            else:
                assert client.protocol_version < MODERN
    assert [r.key_owner for r in sandbox.state.requests] == ["alice", "alice"]
    assert "GET generation -> 404" in errors.read_text()


def test_stdio_logs_go_to_stderr_only(sandbox: RunningSandbox, tmp_path: Path) -> None:
    """With DEBUG logging on, stdout must still carry nothing but MCP messages."""
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25",
         "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "get_generation", "arguments": {"id": CHAT_ID}}},
    ]  # fmt: skip
    errors = tmp_path / "stderr.log"
    with errors.open("w") as errlog:
        process = subprocess.Popen(
            [sys.executable, "-m", "kushrouter_mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errlog,
            text=True,
            env=server_env(sandbox.base_url, KUSHROUTER_MCP_LOG_LEVEL="DEBUG"),
        )
        assert process.stdin and process.stdout
        process.stdin.write("".join(json.dumps(r) + "\n" for r in requests))
        process.stdin.flush()
        messages = [json.loads(process.stdout.readline()) for _ in range(2)]  # one answer per request id
        process.stdin.close()
        process.wait(timeout=20)
        rest = process.stdout.read()
        process.stdout.close()
    assert [m["id"] for m in messages] == [1, 2]
    assert messages[1]["result"]["structuredContent"]["id"] == CHAT_ID
    assert rest == ""
    assert "GET generation -> 200" in errors.read_text()


@pytest.mark.parametrize("mode", ["legacy", MODERN])
async def test_streamable_http(sandbox: RunningSandbox, http_server_factory: StartHttp, mode: str) -> None:
    url, _ = http_server_factory(server_env(sandbox.base_url))
    async with Client(url, mode=mode) as client:
        await exercise(client)
        assert (client.protocol_version == MODERN) == (mode == MODERN)


async def test_http_rejects_foreign_origin_and_oversized_bodies(
    sandbox: RunningSandbox, http_server_factory: StartHttp
) -> None:
    url, _ = http_server_factory(server_env(sandbox.base_url), "--max-body-bytes", "65536")
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    async with httpx.AsyncClient(timeout=10) as http:
        foreign = await http.post(url, json=ping, headers={**headers, "Origin": "https://evil.example"})
        assert foreign.status_code == 403
        rebound = await http.post(url, json=ping, headers={**headers, "Host": "evil.example:80"})
        assert rebound.status_code == 421
        for friendly in ({"Origin": "http://localhost:5173"}, {"Host": "localhost"}, {"Host": "127.0.0.1:9"}):
            allowed = await http.post(url, json=ping, headers={**headers, **friendly})
            assert allowed.status_code not in (403, 421), friendly
        big = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": "extract_generation_id",
                          "arguments": {"payload": "x" * 70_000}}}  # fmt: skip
        too_big = await http.post(url, json=big, headers=headers)
        assert too_big.status_code == 413
        assert too_big.json()["error"]["message"].startswith("Request body too large")
        assert "65,536" in too_big.text and "--max-body-bytes" in too_big.text
    async with Client(url) as client:  # and it keeps serving
        result = await client.call_tool("extract_generation_id", {"payload": CHAT_ID})
        assert not result.is_error


async def test_http_takes_an_8_mib_payload_by_default(
    sandbox: RunningSandbox, http_server_factory: StartHttp
) -> None:
    url, _ = http_server_factory(server_env(sandbox.base_url))
    chunk = (
        '{"id":"chatcmpl-huge-1","object":"chat.completion.chunk",'
        '"choices":[{"index":0,"delta":{"content":"abc"}}]}'
    )
    payload = "".join(f"data: {chunk}\n\n" for _ in range(80_000))
    assert len(payload) > 8 * 1024 * 1024
    async with Client(url) as client:
        result: Any = await client.call_tool("extract_generation_id", {"payload": payload})
    assert not result.is_error
    assert result.structured_content["ids"] == ["chatcmpl-huge-1"]
