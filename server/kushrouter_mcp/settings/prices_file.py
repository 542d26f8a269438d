"""The user's own prices: a TOML or JSON file of USD per million tokens, read and checked at start-up.

    # prices.toml
    label = "KushRouter rates, November 2026"      # optional: shown as the estimates' source

    [models."claude-sonnet-4-5*"]                   # an exact model id or a simple * glob
    input = 3.0                                     # uncached input, USD per million tokens
    output = 15.0
    cache_read = 0.30                               # optional: missing means the input rate
    cache_write = 3.75                              # optional: missing means the input rate
    provider = "anthropic"                          # optional: shown as the estimate's provider

JSON has the same shape: {"label": …, "models": {"gpt-5*": {"input": …, "output": …}}}.
Every problem stops start-up with one line naming the file, the line (for a syntax error) or the
key, and what is wrong: a price that silently didn't apply would make every figure a lie.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from .setting import ConfigError

RATE_NAMES = ("input", "output", "cache_read", "cache_write")
REQUIRED_RATES = ("input", "output")
_ENTRY_KEYS = frozenset((*RATE_NAMES, "provider"))
_TOP_KEYS = frozenset(("label", "models"))
_LARGEST_RATE = Decimal(1_000_000)  # USD per million tokens: a dollar a token is surely a typo


@dataclass(frozen=True)
class PriceEntry:
    """One model's (or glob's) prices, USD per million tokens; None where the file gave none."""

    pattern: str
    input: Decimal
    output: Decimal
    cache_read: Decimal | None
    cache_write: Decimal | None
    provider: str | None

    @property
    def is_glob(self) -> bool:
        return "*" in self.pattern


@dataclass(frozen=True)
class PricesFile:
    """A checked prices file: where it came from (the name, never the directory) and its entries."""

    name: str
    label: str | None
    entries: tuple[PriceEntry, ...]


def read_prices_file(path: str, given: str) -> PricesFile:
    """The checked file at `path`; ConfigError names the file (`given`: how the user named it)."""
    where = Path(path).expanduser()
    suffix = where.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"{given}: name a .toml or .json file of prices (see README, 'Cost').")
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{given}: no such file; check the path, or unset it to use list prices.") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"{given}: can't read it ({reason}).") from None
    return parse_prices(text, suffix == ".toml", given, where.name)


def parse_prices(text: str, is_toml: bool, given: str, name: str) -> PricesFile:
    """The prices in `text` (TOML or JSON); ConfigError says what is wrong, where."""
    document = _toml(text, given) if is_toml else _json(text, given)
    if not isinstance(document, dict):
        raise ConfigError(f"{given}: expected a table with a `models` table in it, got {_kind(document)}.")
    unknown = sorted(document.keys() - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{given}: unknown key {unknown[0]!r} at the top; expected `label` and `models`.")
    label = document.get("label")
    if label is not None and (not isinstance(label, str) or not label.strip()):
        raise ConfigError(f"{given}: `label` must be a non-empty string (it is shown as the prices' source).")
    models = document.get("models")
    if not isinstance(models, dict) or not models:
        raise ConfigError(
            f"{given}: no `models` table; add one entry per model, e.g. "
            '[models."gpt-5*"] with input = 1.25 and output = 10.0 (USD per million tokens).'
        )
    entries = tuple(_entry(pattern, prices, given) for pattern, prices in models.items())
    return PricesFile(name, label.strip() if label else None, entries)


def _toml(text: str, given: str) -> Any:
    import tomllib  # only with a TOML prices file: a start without one doesn't pay its ~5 ms

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:  # its message ends "(at line L, column C)"
        raise ConfigError(f"{given}: not valid TOML: {error}.") from None


def _json(text: str, given: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{given}: not valid JSON: {error.msg} (at line {error.lineno}, column {error.colno})."
        ) from None


def _entry(pattern: str, prices: object, given: str) -> PriceEntry:
    key = f"models.{json.dumps(pattern)}"
    if not pattern.strip() or any(character.isspace() for character in pattern):
        raise ConfigError(f"{given}: {key}: a model id or glob has no spaces and isn't empty.")
    if not isinstance(prices, dict):
        raise ConfigError(f"{given}: {key} must be a table of prices, like {{ input = 1.0, output = 2.0 }}.")
    unknown = sorted(prices.keys() - _ENTRY_KEYS)
    if unknown:
        raise ConfigError(
            f"{given}: {key}.{unknown[0]} is not a price; use {', '.join(RATE_NAMES)} (and provider)."
        )
    missing = [name for name in REQUIRED_RATES if name not in prices]
    if missing:
        raise ConfigError(f"{given}: {key} has no {missing[0]} price (USD per million tokens).")
    provider = prices.get("provider")
    if provider is not None and (not isinstance(provider, str) or not provider.strip()):
        raise ConfigError(f"{given}: {key}.provider must be a non-empty string.")
    rates = {name: _rate(prices[name], f"{key}.{name}", given) for name in RATE_NAMES if name in prices}
    return PriceEntry(
        pattern=pattern,
        input=rates["input"],
        output=rates["output"],
        cache_read=rates.get("cache_read"),
        cache_write=rates.get("cache_write"),
        provider=provider.strip() if provider else None,
    )


def _rate(value: object, key: str, given: str) -> Decimal:
    """A price in USD per million tokens: a number from 0 up, written as a number."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ConfigError(
            f"{given}: {key} must be a number of USD per million tokens, got {_kind(value)} {value!r}."
        )
    try:
        rate = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:  # pragma: no cover - every number above converts
        raise ConfigError(f"{given}: {key} is not a number.") from None
    if not rate.is_finite() or rate < 0:
        raise ConfigError(f"{given}: {key} is {value}; a price is a finite number from 0 up.")
    if rate > _LARGEST_RATE:
        raise ConfigError(
            f"{given}: {key} is {value} USD per million tokens (over a dollar a token); prices are "
            "per million tokens, so $3 per million is written 3."
        )
    return rate


def _kind(value: object) -> str:
    return {
        dict: "a table",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }.get(type(value), type(value).__name__)
