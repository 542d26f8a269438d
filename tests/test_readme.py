"""The README runs as written: its marked blocks run against the sandbox, its JSON configs parse.
docs/sandbox.md's walkthrough (its Python client) runs the same way, in a terminal of its own.

Conventions (the README's Development section states them too). An HTML comment right before a
fenced block marks it:
  <!-- runnable -->                 run it (bash, or python for a python block); it must exit 0;
                                    each expect="…" fragment must be in its output
  <!-- runnable: background -->     a command that keeps serving: started, awaited until its
                                    expect="…" fragment shows, stopped at the end of its section
  <!-- runnable: sandbox-exports --> the lines to export: they must equal the first lines the
                                    sandbox printed, then they run like any block
  <!-- runnable: inspector -->      an MCP Inspector command: run with a local install of the
                                    pinned Inspector (skipped when there is none)
  <!-- ci-command -->               a quick-start command: every part after the venv's activation
                                    must appear verbatim in .ci/run, which runs it
  <!-- json: mcp.json.example -->   its servers must equal the ones of that name in the file
Blocks run in order in one temporary directory, like one terminal: what a block exports is seen
by the blocks after it. Ports 8787 and 8000 are replaced by free ports.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import free_port
from kushrouter_mcp.sandbox.api import ERROR_MESSAGES
from kushrouter_mcp.sandbox.samples import ALICE_KEY, BOB_KEY, SEED_RECORDS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MCP_JSON_EXAMPLE = ROOT / "mcp.json.example"
SANDBOX_DOC = ROOT / "docs" / "sandbox.md"
CI_SCRIPT = ROOT / ".ci" / "run"
DOCS = sorted([README, ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")])
INSPECTOR_NPX = re.compile(r"npx -y @modelcontextprotocol/inspector@(\S+)")
INSPECTOR_ENTRY = "node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"
BLOCK_TIMEOUT = 90.0
PLACEHOLDER_KEY = "kr_live_REPLACE_ME"
UVX_ARGS = ["--from", "git+https://github.com/kushrouter/kushrouter-mcp", "kushrouter-mcp"]


@dataclass(frozen=True)
class Block:
    """A fenced code block and the marker comment right before it, if any."""

    lang: str
    code: str
    marker: str
    line: int
    section: str
    path: str = "README.md"

    @property
    def kind(self) -> str | None:
        """None for a block that doesn't run; '' for a plain runnable block; else its kind."""
        found = re.match(r"runnable(?::\s*([\w-]+))?", self.marker)
        if not found:
            return None
        return found.group(1) or ""

    @property
    def expects(self) -> list[str]:
        return [m.replace('\\"', '"') for m in re.findall(r'expect="((?:[^"\\]|\\.)*)"', self.marker)]


def read_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    section, marker, index = "", "", 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("## "):
            section = line[3:]
        comment = re.fullmatch(r"<!--\s*(.*?)\s*-->", line)
        if line.startswith("```") and len(line) > 3:
            end = lines.index("```", index + 1)
            code = "\n".join(lines[index + 1 : end]) + "\n"
            where = str(path.relative_to(ROOT))
            blocks.append(Block(line[3:].strip(), code, marker, index + 1, section, where))
            index = end
        marker = comment.group(1) if comment else ""
        index += 1
    return blocks


README_BLOCKS = read_blocks(README)
SANDBOX_DOC_BLOCKS = read_blocks(SANDBOX_DOC)  # its Python client, against its own sandbox


# --- Running the README like one terminal session -------------------------------------------------


@dataclass
class Outcome:
    block: Block
    output: str = ""
    problem: str | None = None  # None: ran as the README says


@dataclass
class Session:
    """One terminal: a working directory, the environment exports build up, servers in the background."""

    cwd: Path
    env: dict[str, str]
    ports: dict[str, str]
    inspector: Path | None
    background: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def localise(self, text: str) -> str:
        for readme_port, port in self.ports.items():
            text = re.sub(rf"\b{readme_port}\b", port, text)
        if self.inspector is not None:
            text = INSPECTOR_NPX.sub(f"node {self.inspector}", text)
        return text

    def run(self, block: Block) -> Outcome:
        outcome = Outcome(block)
        try:
            if block.kind == "background":
                outcome.output = self._start(block)
            else:
                if block.kind == "sandbox-exports":
                    self._check_exports(block)
                outcome.output = self._run_to_end(block)
            missing = [e for e in map(self.localise, block.expects) if e not in outcome.output]
            if missing:
                outcome.problem = f"output lacks {missing!r}"
        except (AssertionError, subprocess.SubprocessError, OSError) as error:
            outcome.problem = str(error)
        self.outcomes.append(outcome)
        return outcome

    def _run_to_end(self, block: Block) -> str:
        code = self.localise(block.code)
        dump = self.cwd / ".readme-env"
        if block.lang == "python":
            script = self.cwd / f"readme_block_{block.line}.py"
            script.write_text(code, encoding="utf-8")
            command = [sys.executable, str(script)]
        else:
            command = ["bash", "-c", f'set -euo pipefail\n{code}\nenv -0 > "$0"\n', str(dump)]
        done = subprocess.run(
            command,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=BLOCK_TIMEOUT,
            check=False,
        )
        output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
        if done.returncode != 0:
            raise AssertionError(f"exit {done.returncode}:\n{output[-3000:]}")
        if block.lang != "python":
            pairs = (item.split("=", 1) for item in dump.read_text().split("\0") if "=" in item)
            self.env = dict(pairs)
        return output

    def _start(self, block: Block) -> str:
        log = self.cwd / f"background-{block.line}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                ["bash", "-c", self.localise(block.code)],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped with everything it started
            )
        self.background.append((process, log))
        ready = [self.localise(e) for e in block.expects]
        deadline = time.monotonic() + BLOCK_TIMEOUT
        while time.monotonic() < deadline:
            output = log.read_text(errors="replace")
            if all(fragment in output for fragment in ready):
                return output
            if process.poll() is not None:
                raise AssertionError(f"exited {process.returncode} before it was ready:\n{output[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"not ready within {BLOCK_TIMEOUT:g} s:\n{log.read_text(errors='replace')}")

    def _check_exports(self, block: Block) -> None:
        assert self.background, "the exports come after the sandbox was started"
        printed = self.background[-1][1].read_text().splitlines()
        exported = [line.removeprefix("export ") for line in self.localise(block.code).splitlines()]
        assert printed[: len(exported)] == exported, f"the sandbox printed {printed[:2]}"

    def stop_background(self) -> None:
        for process, _ in self.background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.background.clear()


def local_inspector() -> Path | None:
    """The pinned Inspector's launcher, if installed: KUSHROUTER_INSPECTOR_LAUNCHER or CI's cache."""
    given = os.environ.get("KUSHROUTER_INSPECTOR_LAUNCHER")
    candidate = Path(given) if given else ROOT / ".ci-cache" / "inspector" / INSPECTOR_ENTRY
    return candidate if candidate.is_file() else None


def session_env(home: Path) -> dict[str, str]:
    """The user's environment without any KushRouter setting, with this Python's scripts on PATH."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("KUSHROUTER_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(home)  # the Inspector writes ~/.mcp-inspector
    return env


def run_walkthrough(blocks: list[Block], cwd: Path) -> Iterator[Session]:
    """Every runnable block of one page, run in order; the outcomes are judged by the tests below."""
    ports = {"8787": str(free_port()), "8000": str(free_port())}
    session = Session(cwd, session_env(cwd), ports, local_inspector())
    section = ""
    try:
        for block in blocks:
            if block.section != section:  # background servers live until their section ends
                session.stop_background()
                section = block.section
            if block.kind is None or (block.kind == "inspector" and session.inspector is None):
                continue
            if session.run(block).problem and block.kind in ("background", "sandbox-exports"):
                break  # everything after depends on it
        yield session
    finally:
        session.stop_background()


@pytest.fixture(scope="module")
def readme_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    yield from run_walkthrough(README_BLOCKS, tmp_path_factory.mktemp("readme"))


@pytest.fixture(scope="module")
def sandbox_doc_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    yield from run_walkthrough(SANDBOX_DOC_BLOCKS, tmp_path_factory.mktemp("sandbox-doc"))


def describe(outcomes: list[Outcome]) -> str:
    return "\n\n".join(
        f"{o.block.path} line {o.block.line} ({o.block.section}):\n{o.block.code}-> {o.problem}"
        for o in outcomes
        if o.problem
    )


def test_readme_blocks_run_as_written(readme_session: Session) -> None:
    ran = [o for o in readme_session.outcomes if o.block.kind != "inspector"]
    if describe(ran):
        pytest.fail(describe(ran), pytrace=False)
    expected = [b.line for b in README_BLOCKS if b.kind is not None and b.kind != "inspector"]
    assert [o.block.line for o in ran] == expected, "every runnable block ran"


def test_sandbox_page_blocks_run_as_written(sandbox_doc_session: Session) -> None:
    ran = [o for o in sandbox_doc_session.outcomes if o.block.kind != "inspector"]
    if describe(ran):
        pytest.fail(describe(ran), pytrace=False)
    expected = [b.line for b in SANDBOX_DOC_BLOCKS if b.kind is not None and b.kind != "inspector"]
    assert [o.block.line for o in ran] == expected, "every runnable block ran"
    assert any(o.block.lang == "python" for o in ran), "the Python client example"


def test_readme_inspector_commands_run_as_written(readme_session: Session) -> None:
    if readme_session.inspector is None:
        # CI installs the pinned Inspector before the tests: there, its absence is a failure.
        if os.environ.get("CI"):
            pytest.fail("CI must install the pinned Inspector before the tests (see .ci/run)")
        pytest.skip("no local Inspector (KUSHROUTER_INSPECTOR_LAUNCHER or .ci-cache/inspector)")
    ran = [o for o in readme_session.outcomes if o.block.kind == "inspector"]
    if describe(ran):
        pytest.fail(describe(ran), pytrace=False)
    assert len(ran) == sum(1 for b in README_BLOCKS if b.kind == "inspector") >= 2


def test_readme_marks_the_walkthrough_runnable() -> None:
    kinds = [b.kind for b in README_BLOCKS]
    for kind in ("", "background", "sandbox-exports", "inspector"):
        assert kind in kinds
    # The Python client example lives in docs/sandbox.md, which the README links; it runs there.
    assert any(b.kind == "" and b.lang == "python" for b in SANDBOX_DOC_BLOCKS), "the Python client example"
    assert "(docs/sandbox.md#a-python-client)" in README.read_text(encoding="utf-8")
    assert any("secrets.token_urlsafe" in b.code for b in README_BLOCKS if b.kind == "")


# --- What the README states, checked against its sources ------------------------------------------


def test_inspector_version_is_the_one_ci_pins() -> None:
    pinned = re.search(r'^INSPECTOR_VERSION="([^"]+)"', CI_SCRIPT.read_text(), re.MULTILINE)
    assert pinned
    versions = {v for b in README_BLOCKS for v in INSPECTOR_NPX.findall(b.code)}
    assert versions == {pinned.group(1)}


def test_quick_start_commands_are_the_ones_ci_runs() -> None:
    ci = CI_SCRIPT.read_text()
    commands = [b.code.strip() for b in README_BLOCKS if b.marker == "ci-command"]
    assert len(commands) == 2
    for command in commands:
        parts = [part.strip() for part in command.split("&&")]
        assert parts[:2] == ["python3 -m venv .venv", ". .venv/bin/activate"]
        for part in parts[2:]:
            assert part in ci, f"{part!r} is not what .ci/run runs"
    assert any(c.endswith("kushrouter-mcp demo") for c in commands)
    assert any(c.endswith("python -m pytest") for c in commands)


def test_first_screen_has_the_quick_start_and_a_client_setup() -> None:
    first_screen = "\n".join(README.read_text(encoding="utf-8").splitlines()[:40])
    assert "kushrouter-mcp demo" in first_screen
    assert "python -m pytest" in first_screen
    assert "claude mcp add kushrouter" in first_screen


def test_sandbox_page_lists_the_sandbox_ids_and_keys() -> None:
    # The README shows both keys and links the page where the ids and fault statuses live.
    readme = README.read_text(encoding="utf-8")
    assert "(docs/sandbox.md)" in readme
    text = SANDBOX_DOC.read_text(encoding="utf-8")
    for generation_id in SEED_RECORDS:
        assert f"`{generation_id}`" in text
    for key in (ALICE_KEY, BOB_KEY):
        assert key in readme and key in text
    for code in ERROR_MESSAGES:
        assert str(code) in text


def test_readme_carries_the_registry_marker_and_links_the_settings_table() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.count("mcp-name: io.github.kushrouter/kushrouter-mcp") == 1
    assert "(docs/configuration.md)" in text
    table_doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    start = table_doc.index("<!-- settings-table:start -->")
    end = table_doc.index("<!-- settings-table:end -->")
    assert start < end
    assert "KUSHROUTER_API_KEY" in table_doc[start:end]


# --- JSON configurations and mcp.json.example ----------------------------------------------------


JSON_BLOCKS = [
    pytest.param(block, id=f"{path.relative_to(ROOT)}:{block.line}")
    for path in DOCS
    for block in read_blocks(path)
    if block.lang == "json"
]


@pytest.mark.parametrize("block", JSON_BLOCKS)
def test_json_blocks_parse(block: Block) -> None:
    json.loads(block.code)


def example_servers() -> dict[str, dict[str, object]]:
    servers: dict[str, dict[str, object]] = json.loads(MCP_JSON_EXAMPLE.read_text())["mcpServers"]
    return servers


def test_json_blocks_match_mcp_json_example_where_they_say_so() -> None:
    claimed = [b for b in README_BLOCKS if b.marker == "json: mcp.json.example"]
    assert claimed
    servers = example_servers()
    for block in claimed:
        for name, entry in json.loads(block.code)["mcpServers"].items():
            assert servers[name] == entry


def test_readme_describes_every_entry_of_mcp_json_example() -> None:
    text = README.read_text(encoding="utf-8")
    servers = example_servers()
    count = ["no", "one", "two", "three", "four", "five", "six"][len(servers)]
    assert f"[`mcp.json.example`](mcp.json.example) holds {count} entries" in text
    for name in servers:
        assert f"`{name}`" in text


def test_mcp_json_example_uses_uvx_and_obvious_placeholders() -> None:
    servers = example_servers()
    stdio = [entry for entry in servers.values() if "command" in entry]
    assert stdio
    for entry in stdio:
        assert entry["command"] == "uvx"
        assert entry["args"] == UVX_ARGS
    text = MCP_JSON_EXAMPLE.read_text()
    assert set(re.findall(r"kr_\w+", text)) == {PLACEHOLDER_KEY}
    for header in re.findall(r'"Authorization": "([^"]*)"', text):
        assert header in (f"Bearer {PLACEHOLDER_KEY}",) or re.fullmatch(r"Bearer <[^>]+>", header)


# --- Links between the README, docs/ and bench/ ---------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {slug(line.lstrip("#")) for line in lines if re.match(r"#{1,6} ", line)}


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        assert linked.exists(), f"{target} from {path.name}"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{target} from {path.name}"
