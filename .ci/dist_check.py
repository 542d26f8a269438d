#!/usr/bin/env python3
"""Build the wheel and sdist the way a release does and check what PyPI and a user would get.

Python 3.11 standard library only; run with a Python that has `build` and `twine` (the dev extra):

    python .ci/dist_check.py --out .ci-cache/dist --python python3.11

`python -m build` (the wheel is built from the sdist, so a file missing from the sdist shows), then
`twine check --strict` on both (the README renders as the PyPI description), the contents of both
(the package, LICENSE, README, server.json; no caches, venvs or bytecode), the registry's ownership
marker in the wheel's description, and finally the wheel installed into a fresh venv, away from the
checkout, running `kushrouter-mcp --version` and the offline `kushrouter-mcp demo`.
Prints PASS/FAIL per check and exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import email
import re
import shutil
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from inspector_check import CheckFailed, Results, run_check
from install_check import expect_ok, project_version, run

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "server" / "kushrouter_mcp"
REGISTRY_MARKER = "mcp-name: io.github.kushrouter/kushrouter-mcp"
NEVER_SHIPPED = re.compile(
    r"(^|/)(\.ci-cache|\.venv[^/]*|venv|node_modules|__pycache__|\.git|dist|build)/|\.pyc$"
)
BUILD_TIMEOUT = 600.0
DASHBOARD_PAGE = "kushrouter_mcp/face/ui/usage-dashboard.html"  # package data: the built MCP Apps view


def package_sources() -> set[str]:
    """The package's files as the wheel names them (kushrouter_mcp/...): code, marker, the dashboard page."""
    return {
        "kushrouter_mcp/" + path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in {".py", ".typed", ".html"}
    }


def build(out: Path, version: str) -> tuple[Path, Path]:
    shutil.rmtree(out, ignore_errors=True)
    argv = [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)]
    expect_ok(run(argv, None, BUILD_TIMEOUT), "python -m build")
    wheel = out / f"kushrouter_mcp-{version}-py3-none-any.whl"
    sdist = out / f"kushrouter_mcp-{version}.tar.gz"
    built = sorted(path.name for path in out.iterdir())
    if built != sorted([wheel.name, sdist.name]):
        raise CheckFailed(f"built {built}, want {wheel.name} and {sdist.name}")
    return wheel, sdist


def check_twine(wheel: Path, sdist: Path) -> str:
    said = expect_ok(
        run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)], None, 120), "twine"
    )
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", said).split())  # without twine's colours


def check_wheel(wheel: Path, version: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"kushrouter_mcp-{version}.dist-info"
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    problems = [f"missing {name}" for name in sorted(package_sources() - names)]
    if DASHBOARD_PAGE not in names:
        problems.append(
            f"no dashboard page {DASHBOARD_PAGE}: report --format html and MCP Apps hosts need it"
        )
    problems += [
        f"stray {name}" for name in sorted(names) if not name.startswith(("kushrouter_mcp/", f"{info}/"))
    ]
    problems += [f"never shipped: {name}" for name in sorted(names) if NEVER_SHIPPED.search(name)]
    if f"{info}/licenses/LICENSE" not in names:
        problems.append("no LICENSE in the dist-info")
    if metadata["Version"] != version or metadata["License-Expression"] != "MIT":
        problems.append(
            f"metadata says version {metadata['Version']}, license {metadata['License-Expression']}"
        )
    if REGISTRY_MARKER not in str(metadata.get_payload()):
        problems.append(
            f"the description (README) lacks {REGISTRY_MARKER!r}: the registry could not verify ownership"
        )
    if "kushrouter-mcp = kushrouter_mcp.cli:main" not in entry_points:
        problems.append("no kushrouter-mcp console script")
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"{len(names)} files, description carries the registry marker"


def check_sdist(sdist: Path, version: str) -> str:
    top = f"kushrouter_mcp-{version}/"
    with tarfile.open(sdist) as archive:
        names = {member.name.removeprefix(top) for member in archive.getmembers() if member.isfile()}
    wanted = {"pyproject.toml", "README.md", "LICENSE", "server.json", "PKG-INFO"}
    wanted |= {"server/" + name for name in package_sources()}
    problems = [f"missing {name}" for name in sorted(wanted - names)]
    problems += [f"never shipped: {name}" for name in sorted(names) if NEVER_SHIPPED.search(name)]
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"{len(names)} files"


def check_wheel_runs(wheel: Path, python: str, version: str, work: Path) -> str:
    venv = work / "wheel-venv"
    expect_ok(run([python, "-m", "venv", str(venv)], None, 120), "python -m venv")
    expect_ok(
        run([str(venv / "bin" / "pip"), "install", "--no-input", str(wheel)], None, BUILD_TIMEOUT),
        "pip install",
    )
    command = str(venv / "bin" / "kushrouter-mcp")
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(work)}  # nothing of the checkout or its venv
    said = expect_ok(run([command, "--version"], env, 60, cwd=work), "kushrouter-mcp --version")
    if said.strip() != f"kushrouter-mcp {version}":
        raise CheckFailed(f"--version printed {said.strip()!r}")
    demo = expect_ok(run([command, "demo"], env, 120, cwd=work), "kushrouter-mcp demo")
    endpoints = ("openai.chat.completions", "openai.responses", "anthropic.messages")
    if not all(endpoint in demo for endpoint in endpoints):
        raise CheckFailed(f"the demo's table lacks an endpoint: {demo[-1500:]!r}")
    # The wheel's ledger works (sqlite3, platformdirs): the demo ends with the report of a throwaway one.
    if "from this server's ledger" not in demo:
        raise CheckFailed(f"the demo printed no usage report: {demo[-1500:]!r}")
    left = [str(path) for path in work.rglob("ledger.sqlite3*")]
    if left:
        raise CheckFailed(f"the demo left a ledger behind: {left}")
    page = expect_ok(
        run([command, "report", "--all-keys", "--format", "html"], env, 60, cwd=work), "report --format html"
    )
    if '<script type="application/json" id="kushrouter-data">{"tool": "usage_report"' not in page:
        raise CheckFailed(f"report --format html printed no page with the report in it: {page[:500]!r}")
    return (
        f"{said.strip()}; demo printed its table and report ({len(demo.splitlines())} lines); "
        f"the HTML report is {len(page.encode())} bytes"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".ci-cache" / "dist", help="where the build goes")
    parser.add_argument("--python", default=sys.executable, help="the Python of the fresh venv")
    args = parser.parse_args()
    version = project_version()
    results = Results()
    try:
        wheel, sdist = build(args.out.resolve(), version)
    except CheckFailed as exc:
        results.fail("python -m build", str(exc))
    else:
        results.ok("python -m build", f"{wheel.name}, {sdist.name}")
        run_check(results, "twine check --strict", check_twine, wheel, sdist)
        run_check(results, "wheel contents", check_wheel, wheel, version)
        run_check(results, "sdist contents", check_sdist, sdist, version)
        with tempfile.TemporaryDirectory(prefix="dist-check-") as work:
            run_check(
                results,
                "wheel in a fresh venv runs the demo",
                check_wheel_runs,
                wheel,
                args.python,
                version,
                Path(work),
            )
    print(f"dist_check: {len(results.passed)} passed, {len(results.failed)} failed", flush=True)
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
