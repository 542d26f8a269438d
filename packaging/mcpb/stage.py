"""Assemble the Claude Desktop bundle: `python packaging/mcpb/stage.py DEST`, then `mcpb pack DEST OUT`.

A `uv` bundle carries the server's source and `pyproject.toml`; the host installs the dependencies
itself. So the bundle is a whitelist — the manifest, the icon, the project files the build needs and
the package's own files — never a virtual environment, caches, tests or anything else in the checkout.
Standard library only.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BUNDLE_FILES = {"manifest.json": HERE / "manifest.json", "icon.png": HERE / "icon.png"}
# pyproject names README.md as the readme and LICENSE as the licence: the build needs both.
PROJECT_FILES = ("pyproject.toml", "README.md", "LICENSE")
PACKAGE = Path("server/kushrouter_mcp")
PACKAGE_SUFFIXES = {".py", ".typed", ".html"}  # .html: the usage dashboard page (MCP Apps, report)


def package_files(root: Path = ROOT) -> list[Path]:
    """The package's source files and data (the dashboard page), relative to `root`, sorted."""
    return sorted(
        path.relative_to(root)
        for path in (root / PACKAGE).rglob("*")
        if path.is_file() and path.suffix in PACKAGE_SUFFIXES and "__pycache__" not in path.parts
    )


def stage(dest: Path, root: Path = ROOT) -> list[Path]:
    """Fill `dest` (emptied first) with the bundle's files; returns them relative to `dest`."""
    if dest.exists():
        _refuse_foreign(dest, root)
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    copies = {Path(name): source for name, source in BUNDLE_FILES.items()}
    copies.update({Path(name): root / name for name in PROJECT_FILES})
    copies.update({relative: root / relative for relative in package_files(root)})
    for relative, source in sorted(copies.items()):
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return sorted(copies)


def _refuse_foreign(dest: Path, root: Path) -> None:
    # Emptying is for an earlier stage only: never a checkout or some other directory given by mistake.
    resolved = dest.resolve()
    earlier_stage = (dest / "manifest.json").is_file() and not (dest / ".git").exists()
    if resolved in (root.resolve(), *root.resolve().parents) or not (
        earlier_stage or not any(dest.iterdir())
    ):
        raise SystemExit(f"stage: {dest} is neither empty nor an earlier bundle stage; give a new directory")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="directory to fill (emptied first)")
    args = parser.parse_args()
    missing = [name for name in PROJECT_FILES if not (ROOT / name).is_file()]
    missing += [str(path) for path in BUNDLE_FILES.values() if not path.is_file()]
    if missing:
        print(f"stage: missing {', '.join(missing)}", file=sys.stderr)
        return 1
    files = stage(args.dest)
    print(f"staged {len(files)} files in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
