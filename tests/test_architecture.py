"""The house rules, read from the source: who may import whom, no cycles, every dependency declared.

Static: every module under server/kushrouter_mcp is parsed (never imported), and every import
statement counts, a function-level one included, so a lazy import can't slip past a rule. Each
rule has a self-test that feeds the checker a small violation and sees it flagged.

Layers, bottom to top: settings < records < extraction, upstream, pricing, reports < ledger < face <
serving < cli. A module may import its own subpackage and any lower layer; the four in the middle
stand side by side and don't import each other. The sandbox (development: offline API, sample data, demo) may
use any layer but serving; only the CLI imports it from outside. Only the CLI imports serving.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "server"
PACKAGE = "kushrouter_mcp"

RANKS = {
    "settings": 0, "records": 1, "extraction": 2, "upstream": 2, "pricing": 2, "reports": 2,
    "ledger": 3, "face": 4, "serving": 5, "cli": 6,
}  # fmt: skip
TOP = 6  # cli; __main__ (python -m) stands beside it
SANDBOX_USERS = {"cli", "__main__", "sandbox"}
SERVING_USERS = {"cli", "__main__", "serving"}
# The one module holding every reach into a library's private state; the layers that need one.
INTERNALS_USERS = {"face", "serving", "sandbox", "library_internals"}
# The MCP SDK and the HTTP stack: the MCP face and serving own them.
SDK_AND_HTTP = {"mcp", "starlette", "uvicorn", "sse_starlette"}
NO_SDK_OR_HTTP = {"extraction", "upstream", "pricing", "reports", "ledger"}
# Pure layers: no network, process, event loop or file-system modules.
IO_MODULES = {
    "socket", "ssl", "select", "selectors", "subprocess", "multiprocessing", "asyncio", "anyio", "httpx",
    "httpcore", "h11", "urllib.request", "http.client", "http.server", "shutil", "tempfile", "io", "os",
    "pathlib",
}  # fmt: skip
PURE = {"records", "extraction", "pricing", "reports"}


@dataclass(frozen=True)
class Import:
    importer: str  # a module of the package, dotted
    imported: str  # the module named, dotted and absolute
    line: int
    at_load: bool  # runs when the importer is loaded: not in a function, not under TYPE_CHECKING


def module_sources(root: Path = SOURCE) -> dict[str, str]:
    """{dotted module name: source} for every module of the package; a package is its __init__."""
    sources = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        sources[".".join(parts)] = path.read_text()
    return sources


def imports_in(sources: dict[str, str]) -> list[Import]:
    """Every import statement of every module, relative ones resolved."""
    packages = {name for name in sources if any(other.startswith(name + ".") for other in sources)}
    found = []
    for module, source in sources.items():
        base = module if module in packages else module.rpartition(".")[0]
        for node, at_load in _import_nodes(ast.parse(source)):
            for imported in _targets(node, base, sources):
                found.append(Import(module, imported, node.lineno, at_load))
    return found


def _import_nodes(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    stack: list[tuple[ast.AST, bool]] = [(tree, True)]
    while stack:
        node, at_load = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, at_load
        deferred = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) or (
            isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        )
        stack.extend((child, at_load and not deferred) for child in ast.iter_child_nodes(node))


def _targets(node: ast.Import | ast.ImportFrom, base: str, sources: dict[str, str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        origin = node.module or ""
    else:
        anchor = base.split(".")[: len(base.split(".")) - (node.level - 1)]
        origin = ".".join([*anchor, *([node.module] if node.module else [])])
    # `from package import module` names the module; `from module import name`, the module.
    named = [f"{origin}.{alias.name}" for alias in node.names]
    return [target if target in sources else origin for target in named]


def subpackage(module: str) -> str:
    """The layer a module of the package lives in: `kushrouter_mcp.face.tools` -> `face`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def rule_breaks(imports: Iterable[Import]) -> list[str]:
    """One line per import that breaks a layer rule."""
    problems = []
    for item in imports:
        where = f"{item.importer} line {item.line} imports {item.imported}"
        problems.extend(f"{where}: {why}" for why in _why_not(item))
    return problems


def _why_not(item: Import) -> Iterator[str]:
    home, top_name = subpackage(item.importer), item.imported.split(".")[0]
    if top_name != PACKAGE:
        if home in NO_SDK_OR_HTTP and top_name in SDK_AND_HTTP:
            yield f"{home} never imports the MCP SDK or the HTTP stack"
        if home in PURE and any(item.imported == m or item.imported.startswith(m + ".") for m in IO_MODULES):
            yield f"{home} is pure: no I/O modules"
        return
    target = subpackage(item.imported)
    if target == home or target == "":  # its own subpackage, or the package root (the version)
        return
    if target == "sandbox" and home not in SANDBOX_USERS:
        yield "only the CLI imports the sandbox"
    elif target == "serving" and home not in SERVING_USERS:
        yield "only the CLI imports serving"
    elif target == "library_internals" and home not in INTERNALS_USERS:
        yield "only the face, serving and the sandbox reach into libraries' internals"
    elif target in ("cli", "__main__") and home != "__main__":
        yield "nothing imports the command line"
    elif home in RANKS and target in RANKS and RANKS[target] == RANKS[home]:
        yield f"{home} and {target} stand side by side: neither imports the other"
    elif home in RANKS and target in RANKS and RANKS[target] > RANKS[home]:
        yield f"{home} is below {target}: lower layers never import upper ones"


def cycles(imports: Iterable[Import]) -> list[list[str]]:
    """Import cycles between the package's modules through imports that run at load, as paths."""
    graph: dict[str, set[str]] = {}
    for item in imports:
        if item.at_load and item.imported.split(".")[0] == PACKAGE and item.imported != item.importer:
            graph.setdefault(item.importer, set()).add(item.imported)
    found, done = [], set()
    for start in sorted(graph):
        path: list[str] = []
        _search(start, graph, path, set(), done, found)
    return found


def _search(
    module: str, graph: dict[str, set[str]], path: list[str], on_path: set[str], done: set[str],
    found: list[list[str]],
) -> None:  # fmt: skip
    """Depth-first; a module met again on the current path closes a cycle."""
    if module in on_path:
        found.append([*path[path.index(module) :], module])
        return
    if module in done:
        return
    path.append(module)
    on_path.add(module)
    for imported in sorted(graph.get(module, ())):
        _search(imported, graph, path, on_path, done, found)
    path.pop()
    on_path.discard(module)
    done.add(module)


# ------------------------------------------------------------------------------------------ the rules


def test_the_package_is_read_whole() -> None:
    sources = module_sources()
    assert {"kushrouter_mcp.cli", "kushrouter_mcp.extraction.shapes", "kushrouter_mcp.face.app"} <= set(
        sources
    )
    assert {subpackage(name) for name in sources} - {"", "__main__"} == set(RANKS) | {
        "sandbox",
        "library_internals",
    }


def test_every_import_keeps_to_the_layer_rules() -> None:
    assert rule_breaks(imports_in(module_sources())) == []


def test_no_import_cycles() -> None:
    assert [" -> ".join(cycle) for cycle in cycles(imports_in(module_sources()))] == []


VIOLATIONS = {
    "records imports the face": ("records.models", "from ..face import tools"),
    "settings imports records, lazily": ("settings.config", "def f():\n    from ..records import ids"),
    "extraction imports upstream": ("extraction.shapes", "from ..upstream.client import LookupFailed"),
    "extraction imports Starlette in a function": (
        "extraction.framing",
        "def f():\n    import starlette.responses",
    ),
    "upstream imports the SDK": ("upstream.client", "from mcp.types import Tool"),
    "the face imports the sandbox": ("face.tools", "from ..sandbox.samples import ALICE_KEY"),
    "the face imports serving": ("face.app", "from kushrouter_mcp.serving import app"),
    "the sandbox imports serving": ("sandbox.demo", "from ..serving.auth import x"),
    "records opens a socket": ("records.ids", "import socket"),
    "extraction starts a process": ("extraction.extract", "from subprocess import run"),
    "extraction reaches the network": ("extraction.extract", "import urllib.request"),
    "serving imports the CLI": ("serving.app", "from .. import cli"),
}


@pytest.mark.parametrize("source", VIOLATIONS.values(), ids=VIOLATIONS.keys())
def test_the_checker_flags_a_broken_rule(source: tuple[str, str]) -> None:
    module, code = source
    sources = {**_skeleton(), f"{PACKAGE}.{module}": code}
    assert len(rule_breaks(imports_in(sources))) == 1


def test_the_checker_lets_the_allowed_imports_pass() -> None:
    sources = {
        **_skeleton(),
        f"{PACKAGE}.face.tools": "from ..upstream import batch\nfrom ..records.models import Usage\n"
        "from mcp.types import Tool\nfrom . import contracts",
        f"{PACKAGE}.cli": "from .serving import app\nfrom .sandbox import runner",
        f"{PACKAGE}.sandbox.demo": "from ..face import app\nfrom . import runner\nimport subprocess",
        f"{PACKAGE}.extraction.shapes": "from ..records.ids import x\nimport json, re\nfrom . import results",
        f"{PACKAGE}.upstream.client": "import httpx\nfrom ..settings.keys import ApiKey",
    }
    assert rule_breaks(imports_in(sources)) == []


def test_the_checker_reports_a_cycle_with_its_path() -> None:
    sources = {
        **_skeleton(),
        f"{PACKAGE}.upstream.client": "from .cache import Cache",
        f"{PACKAGE}.upstream.cache": "from . import batch",
        f"{PACKAGE}.upstream.batch": "from .client import GenerationsApi",
        # Deferred imports don't run at load, so they close no cycle.
        f"{PACKAGE}.face.app": "def f():\n    from . import tools",
        f"{PACKAGE}.face.tools": "import typing\nif typing.TYPE_CHECKING:\n    from .app import x\n"
        "from . import app",
    }
    found = [" -> ".join(cycle) for cycle in cycles(imports_in(sources))]
    upstream = f"{PACKAGE}.upstream"
    assert found == [f"{upstream}.batch -> {upstream}.client -> {upstream}.cache -> {upstream}.batch"]


def _skeleton() -> dict[str, str]:
    """The package's subpackages and modules as empty sources: what relative imports resolve against."""
    return dict.fromkeys(module_sources(), "")


# ------------------------------------------------------------------------------- declared dependencies


def third_party_imports(imports: Iterable[Import]) -> set[str]:
    """Top-level names of what the package imports that neither the standard library nor it provides."""
    names = {item.imported.split(".")[0] for item in imports}
    return {
        name for name in names if name not in sys.stdlib_module_names and name not in (PACKAGE, "__future__")
    }


# Extras the server itself imports from (on first use, never at start-up: tests/test_startup.py).
RUNTIME_EXTRAS = ("postgres",)


def declared_requirements(pyproject: Path = REPO / "pyproject.toml") -> dict[str, Requirement]:
    """[project] dependencies and those of the runtime extras, by normalised distribution name."""
    with pyproject.open("rb") as file:
        project = tomllib.load(file)["project"]
    listed = project["dependencies"] + [
        line for extra in RUNTIME_EXTRAS for line in project["optional-dependencies"][extra]
    ]
    return {_normalised(Requirement(line).name): Requirement(line) for line in listed}


def undeclared(modules: Iterable[str], declared: Iterable[str]) -> list[str]:
    """`module (distribution)` for each imported module no declared distribution provides."""
    providers = importlib.metadata.packages_distributions()
    wanted = {_normalised(name) for name in declared}
    missing = []
    for module in sorted(modules):
        distributions = {_normalised(name) for name in providers.get(module, [])}
        if not distributions & wanted:
            missing.append(f"{module} ({', '.join(sorted(distributions)) or 'no installed distribution'})")
    return missing


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_third_party_import_is_declared_in_pyproject() -> None:
    modules = third_party_imports(imports_in(module_sources()))
    assert {"mcp", "httpx", "pydantic", "uvicorn", "starlette"} <= modules  # the scan sees them
    assert undeclared(modules, declared_requirements()) == []


def test_the_installed_versions_satisfy_the_declared_ranges() -> None:
    outside = {
        name: f"{requirement.specifier} but {version} is installed"
        for name, requirement in declared_requirements().items()
        if not requirement.specifier.contains(version := importlib.metadata.version(name), prereleases=True)
    }
    assert outside == {}


def test_the_dependency_check_flags_an_undeclared_import() -> None:
    assert undeclared({"uvicorn", "httpx"}, {"httpx"}) == ["uvicorn (uvicorn)"]
