"""The API key never shows: not in tool output, not in logs, not in exception text — on every error path."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from conftest import LEAK_CANARY, free_port, server_env
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import CHAT_ID, KEY_OWNERS
from kushrouter_mcp.settings.config import Settings
from kushrouter_mcp.settings.keys import ApiKey

pytestmark = pytest.mark.anyio

# Every failure the lookup can meet, by the sandbox's magic ids.
ERROR_IDS = [
    "chatcmpl-missing-404",
    "sandbox-status-400", "sandbox-status-401", "sandbox-status-402", "sandbox-status-403",
    "sandbox-status-413", "sandbox-status-429", "sandbox-status-500", "sandbox-status-503",
    "sandbox-malformed-json", "sandbox-wrong-shape", "sandbox-success-false", "sandbox-html",
    "sandbox-redirect-loop", "sandbox-reset", "sandbox-slow-5", "bad id", "",
]  # fmt: skip


def assert_clean(text: str) -> None:
    assert LEAK_CANARY not in text
    assert LEAK_CANARY[8:] not in text  # nor the key without its prefix


def test_the_key_does_not_show_in_settings_repr() -> None:
    settings = Settings(api_key=ApiKey(LEAK_CANARY))
    assert_clean(repr(settings))
    assert_clean(str(settings.api_key))


async def test_no_error_path_leaks_the_key_over_stdio(
    sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(KEY_OWNERS, LEAK_CANARY, "alice")  # the sandbox accepts the canary as alice's key
    # An upstream that echoes the key back in its error body must not get it into our answer either.
    sandbox.state.add_fault(400, body=json.dumps({"error": f"bad key {LEAK_CANARY}"}).encode())
    env = server_env(
        sandbox.base_url, api_key=LEAK_CANARY, KUSHROUTER_MCP_LOG_LEVEL="DEBUG", KUSHROUTER_TIMEOUT="2",
        KUSHROUTER_MAX_RETRIES="1",
    )  # fmt: skip
    params = StdioServerParameters(command=sys.executable, args=["-m", "kushrouter_mcp"], env=env)
    outputs: list[str] = []
    stderr = tmp_path / "stderr.log"
    with stderr.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            echoed = await client.call_tool("get_generation", {"id": CHAT_ID})
            assert echoed.is_error and "[redacted]" in echoed.content[0].text
            outputs.append(echoed.model_dump_json())
            for generation_id in ERROR_IDS:
                result = await client.call_tool("get_generation", {"id": generation_id})
                assert result.is_error, generation_id
                outputs.append(result.model_dump_json())
            ok = await client.call_tool("get_generation", {"id": CHAT_ID})
            assert not ok.is_error
            outputs.append(ok.model_dump_json())
    logs = stderr.read_text()
    # Real log lines, through our scrubbing handler (the SDK's own would print bare messages).
    assert "INFO kushrouter_mcp.upstream.client: GET generation" in logs, (
        "the test must have seen real log lines"
    )
    for text in [*outputs, logs]:
        assert_clean(text)


async def test_unreachable_upstream_does_not_leak_the_key(tmp_path: Path) -> None:
    env = server_env(f"http://127.0.0.1:{free_port()}", api_key=LEAK_CANARY, KUSHROUTER_MCP_LOG_LEVEL="DEBUG",
                     KUSHROUTER_MAX_RETRIES="1")  # fmt: skip
    params = StdioServerParameters(command=sys.executable, args=["-m", "kushrouter_mcp"], env=env)
    stderr = tmp_path / "stderr.log"
    with stderr.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            result = await client.call_tool("get_generation", {"id": CHAT_ID})
    assert result.is_error and "Could not reach KushRouter" in result.content[0].text
    assert_clean(result.model_dump_json())
    assert_clean(stderr.read_text())


@pytest.mark.parametrize(
    ("args", "env", "returncode"),
    [
        (["--help"], {}, 0),
        (["--version"], {}, 0),
        ([], {"KUSHROUTER_TIMEOUT": "bad"}, 2),  # refused while the settings are read
        (["--transport", "http", "--host", "0.0.0.0"], {}, 2),  # refused after the key was read
        (["--transport", "http", "--workers", "2"], {"KUSHROUTER_MCP_TOKENS": LEAK_CANARY}, 2),
    ],
)
def test_the_cli_never_prints_the_key(args: list[str], env: dict[str, str], returncode: int) -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "kushrouter_mcp", *args],
        env=server_env("http://127.0.0.1:9", api_key=LEAK_CANARY, **env),
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == returncode, done.stderr
    assert (done.stdout if returncode == 0 else done.stderr).strip()  # it did answer
    assert_clean(done.stdout + done.stderr)
