"""The key modes' verifiers and the team settings, in process: principals hide secrets, tokens parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from http_helpers import OTHER_TOKEN, TOKEN
from kushrouter_mcp.face.app import caller_key
from kushrouter_mcp.sandbox.samples import ALICE_KEY, BOB_KEY
from kushrouter_mcp.serving.auth import CallerKeyVerifier, StaticTokenVerifier
from kushrouter_mcp.settings.config import ConfigError, HttpSettings

pytestmark = pytest.mark.anyio


async def test_access_tokens_get_distinct_principals_that_hide_them() -> None:
    verifier = StaticTokenVerifier([TOKEN, OTHER_TOKEN])
    first, second = await verifier.verify_token(TOKEN), await verifier.verify_token(OTHER_TOKEN)
    assert first is not None and second is not None
    assert first.client_id != second.client_id
    assert (await verifier.verify_token(TOKEN)) == first  # stable: a session stays with its token
    for access in (first, second):
        assert TOKEN not in access.model_dump_json() and OTHER_TOKEN not in access.model_dump_json()
        assert caller_key(access) is None  # a token never stands in for a KushRouter key
    for wrong in ("", TOKEN[:-1], TOKEN + "x", ALICE_KEY):
        assert await verifier.verify_token(wrong) is None


async def test_caller_keys_are_carried_for_their_request_but_named_by_a_hash() -> None:
    verifier = CallerKeyVerifier()
    alice, bob = await verifier.verify_token(ALICE_KEY), await verifier.verify_token(BOB_KEY)
    assert alice is not None and bob is not None
    assert alice.client_id != bob.client_id
    assert ALICE_KEY not in alice.client_id and ALICE_KEY[3:] not in alice.client_id
    key = caller_key(alice)
    assert key is not None and key.reveal() == ALICE_KEY and ALICE_KEY not in repr(key)
    for not_a_key in ("", "kr_", TOKEN, f"{ALICE_KEY} x", "kr_live_\u00e9t\u00e9"):
        assert await verifier.verify_token(not_a_key) is None
    assert caller_key(None) is None


def test_team_settings_from_the_environment(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# comment\n{TOKEN}   # trailing comment\n\n{OTHER_TOKEN}\n{TOKEN}\n")
    settings = HttpSettings.from_env(
        {
            "KUSHROUTER_MCP_TOKENS": f" {OTHER_TOKEN} ,",
            "KUSHROUTER_MCP_TOKENS_FILE": str(tokens),
            "KUSHROUTER_MCP_KEY_MODE": "Per-Request",
            "KUSHROUTER_MCP_ALLOWED_HOSTS": "a.example, b.example:443",
        }
    )
    assert settings.tokens == (OTHER_TOKEN, TOKEN)
    assert settings.key_mode == "per-request"
    assert settings.allowed_hosts == ("a.example", "b.example:443")
    assert TOKEN not in repr(settings) and OTHER_TOKEN not in repr(settings)
    assert HttpSettings.from_env({}) == HttpSettings()


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"KUSHROUTER_MCP_TOKENS": "too-short"}, "at least 16"),
        ({"KUSHROUTER_MCP_TOKENS": "has a space in the middle"}, "spaces"),
        ({"KUSHROUTER_MCP_KEY_MODE": "open"}, "server-key or per-request"),
    ],
)
def test_bad_team_settings_are_refused(env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words) as refused:
        HttpSettings.from_env(env)
    rejected_token = env.get("KUSHROUTER_MCP_TOKENS")
    if rejected_token:
        assert rejected_token not in str(refused.value)  # a rejected token is not echoed back
        assert "KUSHROUTER_MCP_TOKENS=" not in str(refused.value)
