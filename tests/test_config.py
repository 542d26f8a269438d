"""Settings from the environment: defaults, every bad value named, the key never shown."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from conftest import LEAK_CANARY
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, CHAT_ID
from kushrouter_mcp.settings.config import ConfigError, HttpSettings, Settings
from kushrouter_mcp.settings.logs import configure_logging
from kushrouter_mcp.upstream.client import GenerationsApi


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.api_key is None
    assert settings.base_url == "https://api.kushrouter.com"
    assert (settings.timeout_seconds, settings.max_retries, settings.log_level) == (20.0, 3, "WARNING")


def test_values_are_read_and_normalised() -> None:
    settings = Settings.from_env(
        {
            "KUSHROUTER_API_KEY": f"  {LEAK_CANARY}\n",
            "KUSHROUTER_BASE_URL": "http://127.0.0.1:8787/prefix/",
            "KUSHROUTER_TIMEOUT": "2.5",
            "KUSHROUTER_MAX_RETRIES": "0",
            "KUSHROUTER_MCP_LOG_LEVEL": "debug",
        }
    )
    assert settings.api_key is not None and settings.api_key.reveal() == LEAK_CANARY
    assert settings.base_url == "http://127.0.0.1:8787/prefix"
    assert (settings.timeout_seconds, settings.max_retries, settings.log_level) == (2.5, 0, "DEBUG")


@pytest.mark.parametrize("suffix", ["/api/v1", "/api/v1/", "/prefix/api/v1"])
def test_a_base_url_ending_in_the_api_path_is_understood(suffix: str) -> None:
    # Clients of KushRouter's OpenAI-style API are configured with .../api/v1; the lookups add it.
    settings = Settings.from_env({"KUSHROUTER_BASE_URL": f"http://127.0.0.1:8787{suffix}"})
    assert settings.base_url == "http://127.0.0.1:8787" + suffix.removesuffix("/").removesuffix("/api/v1")


@pytest.mark.anyio
async def test_lookups_through_a_base_url_with_the_api_path_find_the_record(sandbox: RunningSandbox) -> None:
    env = {"KUSHROUTER_BASE_URL": f"{sandbox.base_url}/api/v1/", "KUSHROUTER_API_KEY": ALICE_KEY}
    api = GenerationsApi(Settings.from_env(env))
    try:
        found = await api.lookup(CHAT_ID, api.settings.api_key)
    finally:
        await api.aclose()
    assert found.record["id"] == CHAT_ID
    assert [seen.path for seen in sandbox.state.requests] == ["/api/v1/generations"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KUSHROUTER_BASE_URL", "api.kushrouter.com"),
        ("KUSHROUTER_BASE_URL", "ftp://api.kushrouter.com"),
        ("KUSHROUTER_BASE_URL", "https://user:pass@api.kushrouter.com"),
        ("KUSHROUTER_BASE_URL", "https://api.kushrouter.com/?id=1"),
        ("KUSHROUTER_TIMEOUT", "soon"),
        ("KUSHROUTER_TIMEOUT", "0"),
        ("KUSHROUTER_MAX_RETRIES", "1.5"),
        ("KUSHROUTER_MAX_RETRIES", "11"),
        ("KUSHROUTER_MCP_MAX_PAYLOAD_CHARS", "0"),
        ("KUSHROUTER_MCP_MAX_BODY_BYTES", "100"),
        ("KUSHROUTER_MCP_LOG_LEVEL", "LOUD"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_the_flag_shares_the_environment_rule_wins_and_is_named() -> None:
    env = {"KUSHROUTER_MCP_MAX_BODY_BYTES": "8192", "KUSHROUTER_MCP_LOG_LEVEL": "INFO"}
    assert Settings.from_env(env).max_body_bytes == 8192
    assert Settings.from_env(env, {"max_body_bytes": "4096"}).max_body_bytes == 4096
    with pytest.raises(ConfigError, match="--max-body-bytes 100 is out of range; use a value from 1024"):
        Settings.from_env(env, {"max_body_bytes": "100"})
    with pytest.raises(ConfigError, match="--key-mode open is not server-key or per-request"):
        HttpSettings.from_env({}, {"key_mode": "open"})


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_log_lines_and_tracebacks_are_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", [LEAK_CANARY])
    logger = logging.getLogger("kushrouter_mcp.test")
    logger.info("header was Bearer %s", LEAK_CANARY)
    try:
        raise RuntimeError(f"echoed {LEAK_CANARY}")
    except RuntimeError:
        logger.exception("upstream failed")
    err = capsys.readouterr().err
    assert "header was Bearer [redacted]" in err
    assert "RuntimeError: echoed [redacted]" in err
    assert LEAK_CANARY not in err


@pytest.mark.usefixtures("restore_logging")
def test_a_bad_log_call_is_logged_scrubbed_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", [LEAK_CANARY])
    logging.getLogger("kushrouter_mcp.test").info("key %s and %s", LEAK_CANARY)  # one argument short
    err = capsys.readouterr().err
    assert "key %s and %s" in err and "[redacted]" in err
    assert LEAK_CANARY not in err
