#!/usr/bin/env python3
"""Install kushrouter-mcp the ways clients do and drive each with the MCP Inspector CLI.

Python 3.11 standard library only; run with the CI venv's Python (it has the server for the sandbox):

    python .ci/install_check.py uvx --launcher L --root . --uv-cache .ci-cache/uv-cache
    python .ci/install_check.py bundle --launcher L --mcpb-cli .ci-cache/mcpb/.../dist/cli/cli.js \
        --uv-cache .ci-cache/uv-cache --out .ci-cache/bundle

uvx: `uvx --from <checkout> kushrouter-mcp` (and `--from git+file://<checkout>@<HEAD>`, the git-URL form
of the README's `git+https://…`) as a client config's command, the way Claude Desktop, Cursor or VS
Code would launch it.
bundle: stage packaging/mcpb, then the official CLI's `mcpb validate`, `pack`, `info` and `unpack`;
the unpacked bundle is launched the way the host does: `server.mcp_config`'s command and args with
`${__dirname}` and `${user_config.*}` substituted, the user's answers in `env`, `uv` found on PATH.
Each launch is driven against the offline sandbox: tools listed, a lookup answered, an unknown id as
isError, the batch, the prompt (the git form and the bare entry point: tools and a lookup).
Prints PASS/FAIL per check and exits 1 on any failure. Only 127.0.0.1 and the package index (through
uv) are contacted.

uv needs, from this environment: SSL_CERT_FILE/SSL_CERT_DIR (a proxy's certificate may only be in the
system store), any proxy and UV_* settings; the servers get those plus a cache under .ci-cache and
UV_PYTHON_DOWNLOADS=never (uv uses the given Python instead of downloading one).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspector_check import (
    BATCH,
    GET_MISSING,
    GET_OK,
    LIST,
    PROMPTS,
    CheckFailed,
    Inspector,
    Results,
    add_tool_arguments,
    check_batch,
    check_get,
    check_missing,
    check_prompts,
    check_tools_list,
    run_check,
    upstream_env,
    with_sandbox,
)

from kushrouter_mcp.sandbox.processes import SandboxProcess

ROOT = Path(__file__).resolve().parents[1]
SERVER_NAME = "kushrouter"  # the entry's name in the client config
INSTALL_TIMEOUT = 600.0  # a first uv run may build the project and fill the cache
PASS_THROUGH = ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")


def project_version() -> str:
    text = (ROOT / "server" / "kushrouter_mcp" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if found is None:
        raise SystemExit("install_check: no __version__ in server/kushrouter_mcp/__init__.py")
    return found[1]


def uv_environment(cache: Path, python: str) -> dict[str, str]:
    """What uv needs from this machine, for servers the Inspector starts with a bare environment."""
    env = {"UV_CACHE_DIR": str(cache), "UV_PYTHON": python, "UV_PYTHON_DOWNLOADS": "never"}
    for name, value in os.environ.items():
        if name.upper() in PASS_THROUGH or name.startswith("UV_"):
            env.setdefault(name, value)
    # Proxies are for the package index; the sandbox on loopback must be reached directly.
    no_proxy = [part for part in (env.get("NO_PROXY", ""), "127.0.0.1,localhost") if part]
    env["NO_PROXY"] = env["no_proxy"] = ",".join(no_proxy)
    return env


def run(
    argv: list[str], env: dict[str, str] | None, timeout: float, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 - fixed argv, no shell
            argv,
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CheckFailed(f"{' '.join(argv)} did not finish within {timeout:.0f}s") from exc


def expect_ok(done: subprocess.CompletedProcess[str], what: str) -> str:
    if done.returncode != 0:
        tails = f"stdout: {done.stdout[-1500:]!r} stderr: {done.stderr[-1500:]!r}"
        raise CheckFailed(f"{what} exited {done.returncode}; {tails}")
    return done.stdout


class Launch:
    """One way of starting the server, as a client config entry the Inspector reads with --config."""

    def __init__(
        self, label: str, command: str, args: list[str], env: dict[str, str], config_dir: Path
    ) -> None:
        self.label = label
        self.command = command
        self.args = args
        self.env = env
        self.config = config_dir / f"{re.sub(r'[^a-z0-9]+', '-', label)}.json"
        entry = {"command": command, "args": args, "env": env}
        self.config.write_text(json.dumps({"mcpServers": {SERVER_NAME: entry}}, indent=2), encoding="utf-8")

    @property
    def target(self) -> list[str]:
        return ["--config", str(self.config), "--server", SERVER_NAME]

    def first_start(self, path: str, version: str) -> str:
        """The first launch installs the environment (slow): once with --version, outside the Inspector."""
        env = {"PATH": path, "HOME": str(self.config.parent), **self.env}
        out = expect_ok(
            run([self.command, *self.args, "--version"], env, INSTALL_TIMEOUT), f"{self.label} --version"
        )
        if out.strip() != f"kushrouter-mcp {version}":
            raise CheckFailed(
                f"{self.label} --version printed {out.strip()!r}, want 'kushrouter-mcp {version}'"
            )
        return out.strip()


def passed(results: Results, name: str, fn: Callable[..., str], *args: Any) -> bool:
    """run_check, saying whether it passed (later checks that need it are skipped)."""
    before = len(results.failed)
    run_check(results, name, fn, *args)
    return len(results.failed) == before


def drive(
    results: Results, insp: Inspector, launch: Launch, sandbox: SandboxProcess, full: bool = True
) -> None:
    if not passed(
        results, f"{launch.label} first start", launch.first_start, insp.env["PATH"], project_version()
    ):
        return
    # The venv install gets inspector_check's whole list; here what proves the launch path: the tools,
    # a lookup, and (full) an unknown id as isError, the batch and the prompt. Each run starts uv anew.
    label, target = launch.label, launch.target
    run_check(results, f"{label} tools/list", check_tools_list, insp.run(target, LIST))
    run_check(results, f"{label} get_generation", check_get, insp.run(target, GET_OK))
    if full:
        missing = insp.run(target, GET_MISSING)
        run_check(results, f"{label} get_generation unknown id", check_missing, missing, sandbox.api_key)
        run_check(results, f"{label} get_generations", check_batch, insp.run(target, BATCH))
        run_check(results, f"{label} prompts/list", check_prompts, insp.run(target, PROMPTS))


# ------------------------------------------------------------------------------------------------- uvx


def uvx_checks(
    results: Results, insp: Inspector, sandbox: SandboxProcess, args: argparse.Namespace, tmp: Path
) -> None:
    env = {**uv_environment(args.uv_cache, args.python), **upstream_env(sandbox)}
    root = str(args.root.resolve())
    # The cache is keyed on the sources (pyproject's tool.uv.cache-keys); refresh once anyway, so a
    # stale build from an earlier run can never stand in for this checkout.
    refresh = Launch(
        "uvx refresh",
        "uvx",
        ["--refresh-package", "kushrouter-mcp", "--from", root, "kushrouter-mcp"],
        env,
        tmp,
    )
    run_check(
        results, "uvx --refresh-package build", refresh.first_start, insp.env["PATH"], project_version()
    )
    drive(results, insp, Launch("uvx", "uvx", ["--from", root, "kushrouter-mcp"], env, tmp), sandbox)
    head = run(["git", "-C", root, "rev-parse", "HEAD"], None, 30)
    if head.returncode == 0:
        git_url = (
            f"git+file://{root}@{head.stdout.strip()}"  # what a clone holds: uncommitted files don't count
        )
        drive(
            results,
            insp,
            Launch("uvx git", "uvx", ["--from", git_url, "kushrouter-mcp"], env, tmp),
            sandbox,
            full=False,
        )
    else:
        results.fail("uvx git", f"{root} is not a git checkout: {head.stderr.strip()}")


# ---------------------------------------------------------------------------------------------- bundle


class Mcpb:
    """The official @anthropic-ai/mcpb CLI."""

    def __init__(self, node: str, cli: Path) -> None:
        self.node = node
        self.cli = cli

    def __call__(self, *argv: str) -> str:
        return expect_ok(run([self.node, str(self.cli), *argv], None, 300), f"mcpb {argv[0]}")


def substitute(text: str, dirname: Path, answers: dict[str, str]) -> str:
    """The host's variable substitution in mcp_config; anything left unsubstituted is a failure."""
    text = text.replace("${__dirname}", str(dirname)).replace("${HOME}", str(Path.home()))
    text = text.replace("${pathSeparator}", os.sep).replace("${/}", os.sep)
    for name, value in answers.items():
        text = text.replace(f"${{user_config.{name}}}", value)
    if "${" in text:
        raise CheckFailed(f"unsubstituted variable left in mcp_config value {text!r}")
    return text


def host_launch(
    label: str,
    manifest: dict[str, Any],
    dirname: Path,
    given: dict[str, str],
    extra_env: dict[str, str],
    tmp: Path,
) -> Launch:
    """mcp_config as the host runs it: user_config answers (or their defaults) substituted."""
    options: dict[str, dict[str, Any]] = manifest.get("user_config", {})
    answers = {
        name: given[name] if name in given else str(option.get("default", ""))
        for name, option in options.items()
    }
    unanswered = [name for name, option in options.items() if option.get("required") and not answers[name]]
    if unanswered:
        raise CheckFailed(f"required user_config without an answer: {unanswered}")
    config = manifest["server"]["mcp_config"]
    command = substitute(config["command"], dirname, answers)
    args = [substitute(arg, dirname, answers) for arg in config.get("args", [])]
    env = {name: substitute(value, dirname, answers) for name, value in config.get("env", {}).items()}
    return Launch(label, command, args, {**extra_env, **env}, tmp)


def bundle_checks(
    results: Results, insp: Inspector, sandbox: SandboxProcess, args: argparse.Namespace, tmp: Path
) -> None:
    mcpb = Mcpb(args.node, args.mcpb_cli)
    version = project_version()
    stage_dir = tmp / "stage"
    # As docs/publishing.md says to build it: the staging script, then the official CLI.
    expect_ok(
        run(
            [sys.executable, str(ROOT / "packaging" / "mcpb" / "stage.py"), str(stage_dir)],
            None,
            60,
        ),
        "stage.py",
    )
    staged = sorted(path.relative_to(stage_dir) for path in stage_dir.rglob("*") if path.is_file())
    out = args.out / f"kushrouter-mcp-{version}.mcpb"
    args.out.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    unpacked = tmp / "unpacked"

    def validate() -> str:
        said = mcpb("validate", str(stage_dir / "manifest.json"))
        if "Manifest schema validation passes!" not in said:
            raise CheckFailed(f"mcpb validate did not say the manifest passes: {said!r}")
        return "schema and icon pass"

    def pack() -> str:
        mcpb("pack", str(stage_dir), str(out))
        with zipfile.ZipFile(out) as archive:
            packed = sorted(name for name in archive.namelist() if not name.endswith("/"))
        want = sorted(path.as_posix() for path in staged)
        if packed != want:
            extra, missing = set(packed) - set(want), set(want) - set(packed)
            raise CheckFailed(f"packed files differ from the stage: extra {extra}, missing {missing}")
        digest = hashlib.sha256(out.read_bytes()).hexdigest()
        return f"{out} ({out.stat().st_size} bytes, {len(packed)} files, sha256 {digest})"

    def info() -> str:
        said = mcpb("info", str(out))
        if out.name not in said:
            raise CheckFailed(f"mcpb info does not name {out.name}: {said!r}")
        return " ".join(said.split())[:160]

    def unpack() -> str:
        mcpb("unpack", str(out), str(unpacked))
        manifest = json.loads((unpacked / "manifest.json").read_text(encoding="utf-8"))
        if (manifest["name"], manifest["version"], manifest["server"]["type"]) != (
            "kushrouter-mcp",
            version,
            "uv",
        ):
            raise CheckFailed(
                f"unpacked manifest is {manifest['name']} {manifest['version']} {manifest['server']['type']}"
            )
        for needed in ("pyproject.toml", manifest["server"]["entry_point"], manifest["icon"]):
            if not (unpacked / needed).is_file():
                raise CheckFailed(f"{needed} missing from the unpacked bundle")
        return str(unpacked)

    for name, step in (
        ("mcpb validate", validate),
        ("mcpb pack", pack),
        ("mcpb info", info),
        ("mcpb unpack", unpack),
    ):
        if not passed(results, name, step):
            return
    manifest = json.loads((unpacked / "manifest.json").read_text(encoding="utf-8"))
    answers = {"api_key": sandbox.api_key, "base_url": sandbox.base_url}
    uv_env = uv_environment(args.uv_cache, args.python)
    try:
        launch = host_launch("bundle", manifest, unpacked, answers, uv_env, tmp)
    except CheckFailed as exc:
        results.fail("bundle mcp_config", str(exc))
        return
    results.ok("bundle mcp_config", f"{launch.command} {' '.join(launch.args)}")
    drive(results, insp, launch, sandbox)
    # A host that ignores mcp_config for a uv bundle runs the entry point with uv: that must work too.
    entry = Launch(
        "bundle entry_point",
        "uv",
        ["run", "--directory", str(unpacked), manifest["server"]["entry_point"]],
        {**uv_env, **upstream_env(sandbox)},
        tmp,
    )
    drive(results, insp, entry, sandbox, full=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("uvx", "bundle"))
    parser.add_argument("--launcher", required=True, type=Path, help="Inspector launcher build/index.js")
    add_tool_arguments(parser)
    parser.add_argument("--home", type=Path, help="HOME for Inspector runs (default: a new temp dir)")
    parser.add_argument(
        "--uv", type=Path, help="uv executable; its directory goes first on PATH (default: on PATH)"
    )
    parser.add_argument("--uv-cache", type=Path, required=True, help="UV_CACHE_DIR for every uv run")
    parser.add_argument("--python", default=sys.executable, help="UV_PYTHON: the interpreter uv builds on")
    parser.add_argument("--root", type=Path, default=ROOT, help="uvx: the checkout to run from")
    parser.add_argument("--mcpb-cli", type=Path, help="bundle: @anthropic-ai/mcpb's dist/cli/cli.js")
    parser.add_argument(
        "--out", type=Path, default=ROOT / ".ci-cache" / "bundle", help="bundle: where the .mcpb goes"
    )
    args = parser.parse_args()
    if args.mode == "bundle" and (args.mcpb_cli is None or not args.mcpb_cli.is_file()):
        print(f"FAIL setup: mcpb CLI not found at {args.mcpb_cli}", flush=True)
        return 1
    args.uv_cache = args.uv_cache.resolve()
    # A pyenv shim only works with this HOME: hand uv the interpreter behind it.
    where = run([args.python, "-c", "import sys; print(sys.executable)"], None, 60)
    if where.returncode != 0:
        print(f"FAIL setup: {args.python} does not run: {where.stderr.strip()}", flush=True)
        return 1
    args.python = where.stdout.strip()
    args.out = args.out.resolve()

    with tempfile.TemporaryDirectory(prefix=f"install-check-{args.mode}-") as tmp_name:
        tmp = Path(tmp_name)
        home = args.home or tmp / "home"
        home.mkdir(parents=True, exist_ok=True)
        insp = Inspector(args.node, args.launcher.resolve(), home)
        insp.env["MCP_INSPECTOR_SECRET_STORE"] = "memory"  # noqa: S105 - a store's name; no keychain here
        if args.uv is not None:
            insp.env["PATH"] = os.pathsep.join([str(args.uv.resolve().parent), insp.env.get("PATH", "")])
        results = Results()
        checks = uvx_checks if args.mode == "uvx" else bundle_checks
        with_sandbox(
            results, insp, args.server, tmp, lambda sandbox: checks(results, insp, sandbox, args, tmp)
        )
    print(
        f"install_check {args.mode}: {len(results.passed)} passed, {len(results.failed)} failed", flush=True
    )
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
