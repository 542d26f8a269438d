"""A setting declared once: its variable, flag, type, default, allowed values and help.

Settings are declared as dataclass fields with `setting(...)`, so the settings classes are the
table: reading the environment and the flags, validation messages, `--help` and the README's
table are all derived from the declarations (as Starlette's `Config` keeps one line per setting).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from .keys import ApiKey

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
Number_ = TypeVar("Number_", int, float)
_SETTING = "kushrouter_mcp.setting"


class ConfigError(ValueError):
    """A setting has a value the server cannot use; the message names the variable or the flag."""


class Kind(Protocol[T_co]):
    """How a setting's text becomes a value. `given` shows where the text came from, for messages."""

    @property
    def metavar(self) -> str: ...

    def parse(self, raw: str, given: str) -> T_co: ...

    def allowed(self) -> str:
        """The allowed values in a few words, for --help and the README ('' when anything goes)."""
        ...


def show_number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def one_of(choices: tuple[str, ...]) -> str:
    return f"{', '.join(choices[:-1])} or {choices[-1]}" if len(choices) > 1 else choices[0]


@dataclass(frozen=True)
class Number(Generic[Number_]):
    type: Callable[[str], Number_]
    low: Number_
    high: Number_
    metavar: str = "N"

    def parse(self, raw: str, given: str) -> Number_:
        try:
            value = self.type(raw)
        except ValueError:
            whole = "a whole number" if self.type is int else "a number"
            raise ConfigError(f"{given} is not {whole}; use one from {self.allowed()}.") from None
        if not self.low <= value <= self.high:
            raise ConfigError(f"{given} is out of range; use a value from {self.allowed()}.")
        return value

    def allowed(self) -> str:
        return f"{show_number(self.low)} to {show_number(self.high)}"


@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]
    normalise: Callable[[str], str] = str.lower
    metavar: str = "NAME"

    def parse(self, raw: str, given: str) -> str:
        value = self.normalise(raw)
        if value not in self.choices:
            raise ConfigError(f"{given} is not {one_of(self.choices)}.")
        return value

    def allowed(self) -> str:
        return one_of(self.choices)


@dataclass(frozen=True)
class Text:
    metavar: str = "TEXT"

    def parse(self, raw: str, given: str) -> str:
        if not raw:
            raise ConfigError(f"{given} is empty; give a value or leave it out for the default.")
        return raw

    def allowed(self) -> str:
        return ""


ON_WORDS = ("1", "true", "yes", "on")
OFF_WORDS = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Switch:
    """An on/off flag; from the environment, 1/true/yes/on or 0/false/no/off."""

    metavar: str = ""

    def parse(self, raw: str, given: str) -> bool:
        word = raw.lower()
        if word in ON_WORDS:
            return True
        if word in OFF_WORDS:
            return False
        raise ConfigError(f"{given} is not on or off; use 1 or 0.")

    def allowed(self) -> str:
        return ""  # a flag is there or not


def split_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True)
class Words:
    """A comma-separated list; with a companion file variable, more items one per line."""

    metavar: str = "A,B"

    def parse(self, raw: str, given: str) -> tuple[str, ...]:
        return self.check(split_list(raw), given)

    def check(self, items: tuple[str, ...], given: str) -> tuple[str, ...]:
        return items

    def from_file(self, path: str, given: str) -> tuple[str, ...]:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"{given}: cannot read {path!r} ({error.strerror}).") from None
        lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
        return self.check(tuple(line for line in lines if line), given)

    def allowed(self) -> str:
        return "comma-separated"


MIN_TOKEN_CHARS = 16


@dataclass(frozen=True)
class Tokens(Words):
    """Access tokens: each long enough not to be guessed. A rejected token is never echoed."""

    metavar: str = "TOKENS"

    def check(self, items: tuple[str, ...], given: str) -> tuple[str, ...]:
        for number, token in enumerate(items, 1):
            if len(token) < MIN_TOKEN_CHARS or any(c.isspace() or not c.isprintable() for c in token):
                raise ConfigError(
                    f"{given}: access token #{number} is too short or has spaces: use at least "
                    f"{MIN_TOKEN_CHARS} printable characters without spaces, e.g. from "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
                )
        return items

    def allowed(self) -> str:
        return f"comma-separated, each at least {MIN_TOKEN_CHARS} characters"


@dataclass(frozen=True)
class Key:
    metavar: str = "KEY"

    def parse(self, raw: str, given: str) -> ApiKey:
        return ApiKey(raw)

    def allowed(self) -> str:
        return ""


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting. `env` and `flag` are where it may be given (the flag wins); either may be None.

    `file_env` names a companion variable holding a file of more list items, one per line.
    `guesses` are options users try for a setting that has no flag; they get pointed to `env`.
    `secret` values never show in a repr or a message.
    """

    kind: Kind[T]
    default: T
    help: str
    env: str | None = None
    flag: str | None = None
    shown_default: str | None = None
    secret: bool = False
    http_only: bool = False
    file_env: str | None = None
    file_help: str = ""
    guesses: tuple[str, ...] = ()

    def read(self, environ: Mapping[str, str], flag_value: object) -> T:
        """The value from the flag if given, else from the environment, else the default."""
        if flag_value is True or flag_value is False:
            return self.kind.parse("1" if flag_value else "0", self._given(self.flag, ""))
        if isinstance(flag_value, str):
            return self.kind.parse(flag_value.strip(), self._given(self.flag, flag_value))
        raw = environ.get(self.env, "").strip() if self.env else ""
        value = self.kind.parse(raw, self._given(self.env, raw)) if raw else self.default
        path = environ.get(self.file_env, "").strip() if self.file_env else ""
        if path and isinstance(self.kind, Words) and isinstance(value, tuple):
            from_file = self.kind.from_file(path, str(self.file_env))
            value = tuple(dict.fromkeys((*value, *from_file)))
        return value

    def _given(self, name: str | None, raw: str) -> str:
        """How a message shows where a value came from: `NAME='raw'`, `--flag raw`; a secret by name."""
        if self.secret or name is None:
            return str(name)
        return f"{name} {shlex.quote(raw)}".rstrip() if name.startswith("-") else f"{name}={raw!r}"

    def shown(self) -> str:
        """The default as --help and the README show it."""
        if self.shown_default is not None:
            return self.shown_default
        if self.default is None or self.default == ():
            return "(none)"
        if isinstance(self.default, bool):
            return "off"
        if isinstance(self.default, int | float):
            return show_number(self.default)
        return str(self.default)


def setting(
    kind: Kind[T],
    default: T,
    help: str,
    *,
    env: str | None = None,
    flag: str | None = None,
    shown_default: str | None = None,
    secret: bool = False,
    http_only: bool = False,
    file_env: str | None = None,
    file_help: str = "",
    guesses: tuple[str, ...] = (),
) -> T:
    """A dataclass field declaring a setting; the class reads it with `read_settings`."""
    declared = Setting(
        kind, default, help, env, flag, shown_default, secret, http_only, file_env, file_help, guesses
    )
    return field(default=default, repr=not secret, metadata={_SETTING: declared})


def declared_settings(cls: type) -> list[tuple[Field[Any], Setting[Any]]]:
    """The settings a dataclass declares, in declaration order, with their fields."""
    return [(item, item.metadata[_SETTING]) for item in fields(cls) if _SETTING in item.metadata]


C = TypeVar("C")


def read_settings(
    cls: type[C], environ: Mapping[str, str] | None = None, flags: Mapping[str, object] | None = None
) -> C:
    """An instance of `cls` from the environment, with `flags` (field name -> value given) winning."""
    env = os.environ if environ is None else environ
    given = flags or {}
    values = {
        item.name: declared.read(env, given.get(item.name)) for item, declared in declared_settings(cls)
    }
    return cls(**values)
