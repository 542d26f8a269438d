"""What the installers read: the registry's server.json, the Claude Desktop bundle, one version everywhere.

The end-to-end paths (uvx from the checkout, the packed bundle launched as a host would, the wheel in a
fresh venv) need uv, Node and the package index, so they run in CI (.ci/uvx_check.py,
.ci/bundle_check.py, .ci/dist_check.py); these tests keep the files themselves honest and fast.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
from mcp import Client

from kushrouter_mcp import __version__
from kushrouter_mcp.face.app import create_server
from kushrouter_mcp.settings.config import Settings
from kushrouter_mcp.settings.table import ROWS

ROOT = Path(__file__).resolve().parents[1]
SERVER_JSON = ROOT / "server.json"
BUNDLE = ROOT / "packaging" / "mcpb"
MANIFEST = BUNDLE / "manifest.json"
REGISTRY_NAME = "io.github.kushrouter/kushrouter-mcp"
REPOSITORY = "https://github.com/kushrouter/kushrouter-mcp"
SCHEMA_BESIDE_CLONE = Path("shared") / "schemas" / "server.schema.json"


def load_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def registry_schema_candidates() -> list[Path]:
    """`../shared/schemas/server.schema.json` beside this checkout, or beside the clone it is a worktree of"""
    candidates = [ROOT.parent / SCHEMA_BESIDE_CLONE]
    dot_git = ROOT / ".git"
    if dot_git.is_file():  # a git worktree: "gitdir: <clone>/.git/worktrees/<name>"
        gitdir = Path(dot_git.read_text(encoding="utf-8").partition("gitdir:")[2].strip())
        if gitdir.parent.name == "worktrees":
            candidates.append(gitdir.parents[2].parent / SCHEMA_BESIDE_CLONE)
    return candidates


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def load_stage_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bundle_stage", BUNDLE / "stage.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------- server.json


def test_server_json_is_valid_against_the_official_registry_schema() -> None:
    found = [path for path in registry_schema_candidates() if path.is_file()]
    if not found:
        pytest.fail(
            "the MCP Registry schema (2025-12-11) is expected at "
            + " or ".join(str(path) for path in registry_schema_candidates())
            + " — a copy of https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
        )
    schema = load_json(found[0])
    server = load_json(SERVER_JSON)
    assert server["$schema"] == schema["$id"]
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(server), key=str)
    assert not errors, "\n".join(f"{list(error.absolute_path)}: {error.message}" for error in errors)


def test_server_json_says_how_to_install_and_configure() -> None:
    server = load_json(SERVER_JSON)
    assert server["name"] == REGISTRY_NAME and len(server["description"]) <= 100
    assert server["repository"] == {"url": REPOSITORY, "source": "github"}
    pypi, bundle = (
        {package["registryType"]: package for package in server["packages"]}[kind]
        for kind in ("pypi", "mcpb")
    )
    assert pypi["identifier"] == pyproject()["project"]["name"]
    assert (pypi["runtimeHint"], pypi["transport"]) == ("uvx", {"type": "stdio"})
    variables = {variable["name"]: variable for variable in pypi["environmentVariables"]}
    key, base_url = variables["KUSHROUTER_API_KEY"], variables["KUSHROUTER_BASE_URL"]
    assert key["isSecret"] is True and key["isRequired"] is True
    assert base_url.get("isSecret", False) is False and base_url["isRequired"] is False
    assert set(variables) <= {row.setting.env for row in ROWS}, "each one a setting the server reads"
    for optional in ("KUSHROUTER_MCP_PRICES", "KUSHROUTER_MCP_LEDGER"):  # files: a path, or off
        assert (variables[optional]["isRequired"], variables[optional]["format"]) == (False, "filepath")
    # The registry takes bundles from GitHub/GitLab releases, and the URL must contain "mcp".
    assert (
        bundle["identifier"]
        == f"{REPOSITORY}/releases/download/v{__version__}/kushrouter-mcp-{__version__}.mcpb"
    )
    assert bundle["transport"] == {"type": "stdio"} and re.fullmatch(r"[0-9a-f]{64}", bundle["fileSha256"])


def test_the_readme_carries_the_registry_ownership_marker() -> None:
    # The registry finds `mcp-name: NAME` in the PyPI description (our README), followed by a boundary.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert pyproject()["project"]["readme"] == "README.md"
    assert re.search(rf"mcp-name: {re.escape(REGISTRY_NAME)}(?=\s|<|-->|$)", readme), (
        f"README.md needs the line <!-- mcp-name: {REGISTRY_NAME} --> (the registry's ownership proof)"
    )


# ----------------------------------------------------------------------------------------------- version


def test_one_version_in_the_package_pyproject_server_json_and_bundle() -> None:
    project = pyproject()
    assert project["project"]["dynamic"] == ["version"] and "version" not in project["project"]
    assert project["tool"]["hatch"]["version"]["path"] == "server/kushrouter_mcp/__init__.py"
    server = load_json(SERVER_JSON)
    versions = {
        "server.json": server["version"],
        **{f"server.json {p['registryType']} package": p["version"] for p in server["packages"]},
        "bundle manifest": load_json(MANIFEST)["version"],
    }
    assert versions == dict.fromkeys(versions, __version__), f"package says {__version__}"


def test_version_flag_prints_the_registry_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kushrouter_mcp", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, f"kushrouter-mcp {load_json(SERVER_JSON)['version']}\n")


# --------------------------------------------------------------------------------------- bundle manifest


def test_bundle_manifest_runs_the_project_with_uv_and_keeps_the_key_secret() -> None:
    manifest = load_json(MANIFEST)
    server = manifest["server"]
    assert server["type"] == "uv" and (ROOT / server["entry_point"]).is_file()
    config = server["mcp_config"]
    assert config["command"] == "uv" and "${__dirname}" in config["args"]
    assert config["env"] == {
        "KUSHROUTER_API_KEY": "${user_config.api_key}",
        "KUSHROUTER_BASE_URL": "${user_config.base_url}",
    }
    options = manifest["user_config"]
    key, base_url = options["api_key"], options["base_url"]
    assert (key["type"], key["sensitive"], key["required"]) == ("string", True, True)
    assert (base_url["type"], base_url["required"]) == ("string", False)
    assert base_url["default"] == "https://api.kushrouter.com" and not base_url.get("sensitive", False)
    referenced = set(re.findall(r"\$\{user_config\.(\w+)\}", json.dumps(config)))
    assert referenced == set(options)
    assert manifest["license"] == pyproject()["project"]["license"]
    assert manifest["repository"] == {"type": "git", "url": REPOSITORY}
    assert manifest["privacy_policies"] and all(
        url.startswith("https://") for url in manifest["privacy_policies"]
    )
    assert (BUNDLE / manifest["icon"]).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.anyio
async def test_bundle_manifest_lists_what_the_server_serves() -> None:
    manifest = load_json(MANIFEST)
    async with Client(create_server(Settings())) as client:
        tools = (await client.list_tools()).tools
        prompts = (await client.list_prompts()).prompts
        # The bundle carries the prompt's text for hosts that show it: the server's, scope as a placeholder.
        scoped = await client.get_prompt("audit_usage", {"scope": "${arguments.scope}"})
    assert sorted(tool["name"] for tool in manifest["tools"]) == sorted(tool.name for tool in tools)
    assert all(tool["description"] for tool in manifest["tools"])
    served = {prompt.name: sorted(argument.name for argument in prompt.arguments or []) for prompt in prompts}
    assert {prompt["name"]: sorted(prompt.get("arguments", [])) for prompt in manifest["prompts"]} == served
    (audit,) = manifest["prompts"]
    assert audit["text"] == scoped.messages[0].content.text


def test_bundle_stage_holds_the_project_and_nothing_else(tmp_path: Path) -> None:
    stage = load_stage_module()
    dest = tmp_path / "bundle"
    staged = {str(path) for path in stage.stage(dest)}
    on_disk = {str(path.relative_to(dest)) for path in dest.rglob("*") if path.is_file()}
    package = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "server" / "kushrouter_mcp").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert staged == on_disk
    assert {"manifest.json", "icon.png", "pyproject.toml", "README.md", "LICENSE"} | package <= on_disk
    assert "server/kushrouter_mcp/face/ui/usage-dashboard.html" in on_disk, "the dashboard page (MCP Apps)"
    assert not {
        path for path in on_disk if re.search(r"(^|/)(\.venv|venv|__pycache__|tests|\.ci-cache)/", path)
    }
    assert not {path for path in on_disk if path.endswith((".pyc", ".so", ".whl"))}


def test_bundle_stage_refuses_to_empty_a_directory_it_did_not_make(tmp_path: Path) -> None:
    stage = load_stage_module()
    (tmp_path / "keep.txt").write_text("not a bundle")
    with pytest.raises(SystemExit, match="neither empty nor an earlier bundle stage"):
        stage.stage(tmp_path)
    assert (tmp_path / "keep.txt").exists()
