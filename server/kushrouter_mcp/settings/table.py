"""The settings table rendered: command-line flags, the `--help` epilog, the docs' table.

The table itself is the declarations in config.py. docs/configuration.md holds a generated copy
between the marker lines below; regenerate it with

    python -m kushrouter_mcp.settings.table --readme docs/configuration.md

(`--markdown` prints the table instead).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import HttpSettings, Settings
from .setting import Setting, Switch, declared_settings

README_START = "<!-- settings-table:start -->"
README_END = "<!-- settings-table:end -->"
REGENERATE = "python -m kushrouter_mcp.settings.table --readme docs/configuration.md"
HTTP_GROUP = "HTTP transport (with --transport http)"


@dataclass(frozen=True)
class Row:
    name: str  # the field's name, also the flag's argparse dest
    setting: Setting[Any]
    http_only: bool


ROWS = (
    *(Row(item.name, declared, declared.http_only) for item, declared in declared_settings(Settings)),
    *(Row(item.name, declared, True) for item, declared in declared_settings(HttpSettings)),
)


def _plain(text: str) -> str:
    """Help text for a terminal: the README's code marks dropped."""
    return text.replace("`", "")


def _meaning(row: Row, text: str) -> str:
    return f"HTTP: {text[:1].lower()}{text[1:]}" if row.http_only else text


def _details(*parts: tuple[str, str]) -> str:
    """' Values: 1 to 64. Default: 8.' from (label, text) pairs, empty texts left out."""
    return "".join(f" {label}: {text}." for label, text in parts if text)


# --- The command line ---------------------------------------------------------------------------


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Every setting that has a flag, as an option whose value is None when it is not given."""
    http = parser.add_argument_group(HTTP_GROUP)
    for row in ROWS:
        declared = row.setting
        if declared.flag is None:
            continue
        container = http if row.http_only else parser
        switch = isinstance(declared.kind, Switch)
        details = _details(
            ("Values", "" if switch else declared.kind.allowed()),
            ("Default", declared.shown()),
            ("Env", declared.env or ""),
        )
        text = f"{_plain(declared.help)}{details}".replace("%", "%%")
        if switch:
            container.add_argument(declared.flag, dest=row.name, action="store_true", default=None, help=text)
        else:
            container.add_argument(declared.flag, dest=row.name, metavar=declared.kind.metavar, help=text)


def flags_given(args: argparse.Namespace) -> dict[str, object]:
    """The settings' flags present on the command line, by field name."""
    return {
        row.name: getattr(args, row.name)
        for row in ROWS
        if row.setting.flag and getattr(args, row.name, None) is not None
    }


def http_only_flags(given: dict[str, object]) -> list[str]:
    return [str(row.setting.flag) for row in ROWS if row.http_only and row.name in given]


def flag_names() -> set[str]:
    return {row.setting.flag for row in ROWS if row.setting.flag}


def _variables(row: Row) -> list[tuple[str, str, str, str]]:
    """(variable, default, allowed, meaning) for each environment variable of a row."""
    declared = row.setting
    found = []
    if declared.env:
        found.append((declared.env, declared.shown(), declared.kind.allowed(), declared.help))
    if declared.file_env:
        found.append((declared.file_env, "(none)", "a file path", declared.file_help))
    return found


def environment_help(width: int = 100) -> str:
    """The `environment:` part of --help: each variable, what it does, its values and default."""
    lines = []
    for row in ROWS:
        for name, default, allowed, meaning in _variables(row):
            flag = row.setting.flag if row.setting.flag and name == row.setting.env else ""
            details = _details(("Values", allowed), ("Default", default), ("Also", flag))
            text = f"{_plain(_meaning(row, meaning))}{details}"
            lines.append(
                textwrap.fill(text, width, initial_indent=f"  {name:<34}", subsequent_indent=" " * 36)
            )
    return "\n".join(lines)


# --- Options users guess for settings that only the environment gives -----------------------------


def _normalised(option: str) -> str:
    """--KushRouter_API-Keys=x -> 'apikey': case, separators, a product prefix and plurals ignored."""
    words = option.lstrip("-").split("=", 1)[0].lower().replace("_", "-").split("-")
    while len(words) > 1 and words[0] in ("kushrouter", "kr", "mcp"):
        words = words[1:]
    return "".join(word.removesuffix("s") for word in words)


_GUESSED = {_normalised(option): row for row in ROWS for option in row.setting.guesses}


def guessed_option_answer(option: str) -> str | None:
    """For an option a user might guess (`--api-key`), where the setting really goes; else None."""
    row = _GUESSED.get(_normalised(option))
    if row is None:
        return None
    declared = row.setting
    name = option.split("=", 1)[0]  # never the value: it may be a secret
    variables = f"{declared.env}" + (f" (or {declared.file_env}, a file)" if declared.file_env else "")
    why = (
        "; secrets stay off the command line, where the process list and shell history would show them"
        if declared.secret
        else ""
    )
    return (
        f"there is no {name} option: set the environment variable {variables} instead (in a client's "
        f'config, its "env" block){why}.'
    )


# --- The docs' table -----------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """The README's configuration table: every variable and flag, its default, values and meaning."""
    lines = ["| variable | flag | default | allowed | meaning |", "| --- | --- | --- | --- | --- |"]
    for row in ROWS:
        flag = f"`{row.setting.flag}`" if row.setting.flag else ""
        variables = _variables(row) or [
            ("", row.setting.shown(), row.setting.kind.allowed(), row.setting.help)
        ]
        for name, default, allowed, meaning in variables:
            value, _, note = default.partition(" (")  # 33554432 (32 MiB): only the value is code
            shown = default if default.startswith("(") else f"`{value}`" + (f" ({note}" if note else "")
            cells = (
                f"`{name}`" if name else "—",
                flag if name != row.setting.file_env else "",
                shown,
                allowed,
            )
            lines.append("| " + " | ".join(_cell(c) for c in (*cells, _meaning(row, meaning))) + " |")
    return "\n".join(lines) + "\n"


def readme_with_table(text: str) -> str:
    """`text` (the README) with the generated table between its marker lines."""
    head, start, rest = text.partition(README_START + "\n")
    _, end, tail = rest.partition(README_END)
    if not start or not end:
        raise ValueError(f"the README has no {README_START} ... {README_END} lines")
    return f"{head}{start}{markdown()}{end}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kushrouter_mcp.settings.table", description=__doc__)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--markdown", action="store_true", help="print the settings table (Markdown)")
    which.add_argument(
        "--readme", type=Path, metavar="PATH", help="rewrite the table inside this Markdown file"
    )
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown())
        return 0
    args.readme.write_text(readme_with_table(args.readme.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
