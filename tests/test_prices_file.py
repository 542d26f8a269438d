"""The user's prices file: read at start-up, winning over list prices, and refused when malformed.

Expected amounts are computed here from the file's own numbers. A malformed file stops start-up
with one line naming the file, the line or key, and what is wrong: through `Settings.from_env`
and through the real CLI (exit 2, one line on stderr, nothing on stdout, no traceback).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kushrouter_mcp.pricing import Pricer
from kushrouter_mcp.settings.config import ConfigError, Settings
from kushrouter_mcp.settings.prices_file import PricesFile

SERVER = Path(__file__).resolve().parent.parent / "server"
PER = Decimal(1_000_000)
ANTHROPIC = "anthropic.messages"
USAGE = {
    "prompt_tokens": 3_000,  # uncached, under Anthropic semantics
    "completion_tokens": 700,
    "cache_read_input_tokens": 20_000,
    "cache_creation_input_tokens": 5_000,
}
TOML = """\
label = "KushRouter rates, November 2026"

[models."claude-sonnet-4-5*"]
input = 2.7
output = 13.5
cache_read = 0.27
cache_write = 3.375
provider = "anthropic"

[models."house-model-1"]
input = 0.4
output = 1.6

[models."house-*"]
input = 9.0
output = 9.0

[models."house-model-*"]
input = 0.5
output = 2.0
cache_read = 0.05
"""
JSON = {
    "label": "team prices",
    "models": {
        "GPT-4o*": {"input": 2.0, "output": 8.0, "cache_read": 1.0},
        "mistral-house": {"input": 0.25, "output": 0.75, "cache_write": 0.3, "provider": "mistral"},
    },
}


def settings_for(path: Path | str) -> Settings:
    return Settings.from_env({"KUSHROUTER_MCP_PRICES": str(path)})


def pricer_for(path: Path) -> Pricer:
    prices = settings_for(path).prices
    assert isinstance(prices, PricesFile)
    return Pricer(prices)


def cost(
    input_rate: str, output_rate: str, cache_read: str | None = None, cache_write: str | None = None
) -> dict[str, Decimal]:
    """USAGE priced at the file's rates (a missing cache rate is the input rate), part by part."""
    rate_in = Decimal(input_rate)
    return {
        "input": rate_in * USAGE["prompt_tokens"] / PER,
        "cache_read": Decimal(cache_read or input_rate) * USAGE["cache_read_input_tokens"] / PER,
        "cache_write": Decimal(cache_write or input_rate) * USAGE["cache_creation_input_tokens"] / PER,
        "output": Decimal(output_rate) * USAGE["completion_tokens"] / PER,
    }


def assert_costs(estimate: dict[str, Any], parts: dict[str, Decimal]) -> None:
    for part, value in parts.items():
        assert estimate[part] == pytest.approx(float(value), rel=1e-9, abs=1e-12), part
    assert estimate["total"] == pytest.approx(float(sum(parts.values())), rel=1e-9, abs=1e-12)


@pytest.fixture
def toml_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(TOML)
    return path


@pytest.fixture
def json_file(tmp_path: Path) -> Path:
    path = tmp_path / "my-prices.json"
    path.write_text(json.dumps(JSON))
    return path


# --- Valid files price what they name -----------------------------------------------------------------


def test_a_toml_file_wins_over_list_prices_and_says_so(toml_file: Path) -> None:
    estimate = pricer_for(toml_file).estimate(ANTHROPIC, "claude-sonnet-4-5-20250929", USAGE)
    assert_costs(estimate, cost("2.7", "13.5", "0.27", "3.375"))
    assert estimate["source"] == "prices file prices.toml (KushRouter rates, November 2026)"
    assert estimate["model_priced"] == "claude-sonnet-4-5*"
    assert estimate["provider"] == "anthropic"
    assert str(toml_file.parent) not in estimate["source"]  # the name, never the directory


def test_list_prices_differ_from_the_override_for_that_model(toml_file: Path) -> None:
    """The premise of the test above: genai-prices has its own price for the model, not the file's."""
    listed = Pricer().estimate(ANTHROPIC, "claude-sonnet-4-5-20250929", USAGE)
    assert listed["source"].startswith("genai-prices")
    assert listed["rates_per_mtok"]["input"] != 2.7


def test_a_json_file_prices_a_model_genai_prices_lacks(json_file: Path) -> None:
    pricer = pricer_for(json_file)
    assert Pricer().estimate(ANTHROPIC, "mistral-house", USAGE)["total"] is None  # unknown to the database
    estimate = pricer.estimate(ANTHROPIC, "mistral-house", USAGE)
    assert_costs(estimate, cost("0.25", "0.75", cache_write="0.3"))
    assert estimate["source"] == "prices file my-prices.json (team prices)"
    assert estimate["provider"] == "mistral"
    assert "No cache-read rate for mistral-house" in estimate["note"]


def test_matching_is_case_insensitive(json_file: Path) -> None:
    estimate = pricer_for(json_file).estimate(ANTHROPIC, "gpt-4O-2024-08-06", USAGE)
    assert_costs(estimate, cost("2.0", "8.0", cache_read="1.0"))
    assert estimate["model_priced"] == "GPT-4o*"
    assert estimate["provider"] is None  # the file named none


def test_an_exact_id_beats_every_glob(toml_file: Path) -> None:
    estimate = pricer_for(toml_file).estimate(ANTHROPIC, "HOUSE-MODEL-1", USAGE)
    assert_costs(estimate, cost("0.4", "1.6"))
    assert estimate["model_priced"] == "house-model-1"


def test_the_most_specific_glob_wins_whatever_the_files_order(toml_file: Path) -> None:
    pricer = pricer_for(toml_file)
    specific = pricer.estimate(ANTHROPIC, "house-model-2", USAGE)
    assert specific["model_priced"] == "house-model-*"  # though "house-*" comes first in the file
    assert_costs(specific, cost("0.5", "2.0", cache_read="0.05"))
    broad = pricer.estimate(ANTHROPIC, "house-cat", USAGE)
    assert broad["model_priced"] == "house-*"
    assert_costs(broad, cost("9.0", "9.0"))


def test_a_model_the_file_lacks_falls_back_to_list_prices(toml_file: Path) -> None:
    estimate = pricer_for(toml_file).estimate(ANTHROPIC, "gpt-4o", USAGE)
    assert estimate["source"].startswith("genai-prices")
    assert estimate["model_priced"] == "gpt-4o"
    unknown = pricer_for(toml_file).estimate(ANTHROPIC, "foo-1", USAGE)
    assert unknown["total"] is None and "or your prices file" in unknown["note"]


def test_a_file_without_a_label_is_named_alone(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[models."x-1"]\ninput = 1\noutput = 3\n')
    estimate = pricer_for(path).estimate(ANTHROPIC, "x-1", USAGE)
    assert estimate["source"] == "prices file p.toml"
    assert_costs(estimate, cost("1", "3"))


@pytest.mark.parametrize("word", ["off", "OFF", "Off"])
def test_off_turns_pricing_off(word: str) -> None:
    assert settings_for(word).prices == "off"


def test_unset_means_list_prices() -> None:
    assert Settings.from_env({}).prices is None


# --- Malformed files are refused with the file, the line or key, and what is wrong -------------------

MALFORMED: dict[str, tuple[str, str, list[str]]] = {
    # case: (file name, content, what the message must say besides the file's path)
    "toml syntax": (
        "prices.toml",
        'label = "x"\n[models."gpt-5*"]\ninput = 1.0\noutput = \n',
        ["not valid TOML", "line 4"],
    ),
    "json syntax": (
        "prices.json",
        '{"models": {\n  "gpt-5*": {"input": 1.0, "output": 2.0,}\n}}\n',
        ["not valid JSON", "line 2"],
    ),
    "unknown price key": (
        "prices.toml",
        '[models."gpt-5*"]\ninput = 1.0\noutput = 2.0\ncached_input = 0.1\n',
        ['models."gpt-5*".cached_input', "is not a price", "cache_read"],
    ),
    "negative price": (
        "prices.toml",
        '[models."gpt-5*"]\ninput = -1.25\noutput = 10.0\n',
        ['models."gpt-5*".input', "-1.25", "from 0 up"],
    ),
    "string price": (
        "prices.json",
        '{"models": {"gpt-5*": {"input": "1.25", "output": 10}}}',
        ['models."gpt-5*".input', "must be a number", "a string"],
    ),
    "missing output": (
        "prices.toml",
        '[models."gpt-5*"]\ninput = 1.25\n',
        ['models."gpt-5*"', "has no output price"],
    ),
    "no models table": (
        "prices.toml",
        'label = "mine"\n',
        ["no `models` table"],
    ),
    "empty models table": (
        "prices.json",
        '{"models": {}}',
        ["no `models` table"],
    ),
    "unknown top key": (
        "prices.toml",
        '[model."gpt-5*"]\ninput = 1.0\noutput = 2.0\n',
        ["unknown key 'model'", "`models`"],
    ),
    "a dollar a token": (
        "prices.toml",
        '[models."gpt-5*"]\ninput = 3000000\noutput = 2.0\n',
        ['models."gpt-5*".input', "per million tokens"],
    ),
    "wrong extension": (
        "prices.yaml",
        "models: {}\n",
        [".toml or .json"],
    ),
}


def malformed_file(tmp_path: Path, case: str) -> tuple[Path, list[str]]:
    name, content, said = MALFORMED[case]
    path = tmp_path / name
    path.write_text(content)
    return path, said


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_file_is_refused_saying_where_and_what(tmp_path: Path, case: str) -> None:
    path, said = malformed_file(tmp_path, case)
    with pytest.raises(ConfigError) as caught:
        settings_for(path)
    message = str(caught.value)
    assert message.startswith(f"KUSHROUTER_MCP_PRICES={str(path)!r}: ")
    for words in said:
        assert words in message, (words, message)
    assert "\n" not in message


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match="no such file") as caught:
        settings_for(path)
    assert str(path) in str(caught.value)


# --- Through the real CLI: exit 2, one line, nothing else ---------------------------------------------


def run_server(prices: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(SERVER),
        "KUSHROUTER_MCP_PRICES": str(prices),
    }
    return subprocess.run(
        [sys.executable, "-m", "kushrouter_mcp"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize("case", ["toml syntax", "negative price", "string price", "missing output"])
def test_the_server_refuses_to_start_with_a_malformed_file(tmp_path: Path, case: str) -> None:
    path, said = malformed_file(tmp_path, case)
    done = run_server(path)
    assert done.returncode == 2
    assert done.stdout == ""  # stdout is the MCP channel: nothing but protocol may go there
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"kushrouter-mcp: error: KUSHROUTER_MCP_PRICES={str(path)!r}: ")
    for words in said:
        assert words in lines[0], (words, lines[0])
    assert "Traceback" not in done.stderr


def test_the_server_starts_with_a_good_file(toml_file: Path) -> None:
    """The refusals above are the file's doing: the same launch with a good file serves stdio
    (and, stdin closed, ends cleanly)."""
    done = run_server(toml_file)
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr


# --- KUSHROUTER_MCP_PRICES_UPDATE ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        ("off", None),
        ("0", None),
        ("No", None),
        ("on", "on"),
        ("TRUE", "on"),
        ("https://mirror.example/genai-prices/data.json", "https://mirror.example/genai-prices/data.json"),
        ("http://127.0.0.1:8080/data.json?token=x", "http://127.0.0.1:8080/data.json?token=x"),
    ],
)
def test_the_price_update_is_off_on_or_a_url(raw: str, read: str | None) -> None:
    assert Settings.from_env({"KUSHROUTER_MCP_PRICES_UPDATE": raw}).prices_update == read


def test_the_price_update_is_off_unless_asked_for() -> None:
    assert Settings.from_env({}).prices_update is None


@pytest.mark.parametrize("raw", ["sometimes", "ftp://mirror.example/data.json", "mirror.example/data.json"])
def test_a_price_update_that_is_not_off_on_or_an_http_url_stops_start_up(raw: str) -> None:
    with pytest.raises(
        ConfigError, match=r"KUSHROUTER_MCP_PRICES_UPDATE=.* is not off, on or an http\(s\) URL"
    ):
        Settings.from_env({"KUSHROUTER_MCP_PRICES_UPDATE": raw})


@pytest.mark.parametrize(
    "raw", ["https://me:hunter2pw@mirror.example/d.json", "ftp://me:hunter2pw@mirror.example/"]
)
def test_a_price_update_url_with_credentials_is_refused_without_showing_them(raw: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"KUSHROUTER_MCP_PRICES_UPDATE": raw})
    assert "must not hold credentials" in str(refused.value) and "hunter2pw" not in str(refused.value)
