"""The settings table is the one source: the copy in docs/configuration.md, --help and the flags follow it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kushrouter_mcp.settings.table import (
    README_END,
    README_START,
    REGENERATE,
    ROWS,
    markdown,
    readme_with_table,
)

TABLE_DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_the_docs_table_is_the_generated_one() -> None:
    text = TABLE_DOC.read_text(encoding="utf-8")
    assert text.count(README_START) == 1 and text.count(README_END) == 1, (
        f"docs/configuration.md must hold the settings table between {README_START} and {README_END}"
    )
    stale = f"docs/configuration.md's settings table is out of date; run: {REGENERATE}"
    assert readme_with_table(text) == text, stale


def test_regenerating_replaces_only_the_marked_block() -> None:
    stale = f"# Title\n\nintro\n\n{README_START}\n| old | table |\n{README_END}\n\nafter\n"
    assert (
        readme_with_table(stale) == f"# Title\n\nintro\n\n{README_START}\n{markdown()}{README_END}\n\nafter\n"
    )
    with pytest.raises(ValueError, match="settings-table"):
        readme_with_table("# no markers\n")


def test_every_setting_is_declared_whole() -> None:
    seen: set[str] = set()
    for row in ROWS:
        declared = row.setting
        names = [name for name in (declared.env, declared.file_env, declared.flag) if name]
        assert names, f"{row.name} can be given nowhere"
        assert not seen.intersection(names), f"{row.name} reuses a name"
        seen.update(names)
        assert declared.help.strip(), f"{row.name} has no help"
        assert not declared.guesses or declared.env, f"{row.name}: guessed options must point to a variable"
        if declared.env:
            assert declared.env.startswith("KUSHROUTER_"), declared.env
        assert f"| {row.name}" not in markdown()  # field names stay internal
