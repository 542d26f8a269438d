"""The failure vocabulary: one enum of kinds, used everywhere a kind is named; one exception table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import httpx
import pytest

import kushrouter_mcp
from kushrouter_mcp.face.contracts import GET_GENERATIONS_DESCRIPTION, BatchResult
from kushrouter_mcp.upstream.failures import ErrorKind, transport_failure

PACKAGE = Path(kushrouter_mcp.__file__).parent
# The values programs already branch on: they must never change.
PUBLISHED_KINDS = [
    "no_key", "invalid_id", "not_found", "unauthorized", "forbidden", "rate_limited", "upstream_error",
    "timeout", "unreachable", "bad_response", "rejected",
]  # fmt: skip


def test_the_kinds_keep_their_published_values_and_each_has_a_meaning() -> None:
    assert [kind.value for kind in ErrorKind] == PUBLISHED_KINDS
    for kind in ErrorKind:
        assert kind.meaning and "\n" not in kind.meaning, kind


def _names(tree: ast.AST) -> set[int]:
    """Ids of the constants used as a dict key or subscript: field names (counts["not_found"]), not kinds."""
    named = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            named.update(id(key) for key in node.keys if key is not None)
        elif isinstance(node, ast.Subscript):
            named.add(id(node.slice))
    return named


def test_no_module_but_the_vocabulary_spells_a_kind_as_a_string() -> None:
    """A kind typed as a free string elsewhere could drift from the enum unnoticed."""
    spelled = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "failures.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        field_names = _names(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and node.value in PUBLISHED_KINDS
                and id(node) not in field_names
            ):
                spelled.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value!r}")
    assert spelled == []


def test_the_batch_schema_and_description_list_the_kinds_from_the_enum() -> None:
    schema = BatchResult.model_json_schema()
    assert schema["$defs"]["ErrorKind"]["enum"] == PUBLISHED_KINDS
    assert schema["$defs"]["ItemError"]["properties"]["kind"]["$ref"] == "#/$defs/ErrorKind"
    listed = GET_GENERATIONS_DESCRIPTION.split("an error with a kind (")[1].split(")")[0]
    assert listed.split(", ") == [kind for kind in PUBLISHED_KINDS if kind != "no_key"]


REQUEST = httpx.Request("GET", "http://127.0.0.1:9/api/v1/generations")


@pytest.mark.parametrize(
    ("error", "kind", "retryable", "words"),
    [
        (httpx.ConnectTimeout("t", request=REQUEST), "timeout", True, "ConnectTimeout"),
        (httpx.ReadTimeout("t", request=REQUEST), "timeout", True, "ReadTimeout"),
        (httpx.ConnectError("c", request=REQUEST), "unreachable", True, "http://base"),
        (httpx.RemoteProtocolError("r", request=REQUEST), "unreachable", True, "RemoteProtocolError"),
        (httpx.DecodingError("d", request=REQUEST), "bad_response", False, "could not be decoded"),
        (httpx.TooManyRedirects("m", request=REQUEST), "bad_response", False, "redirect loop"),
        (httpx.RequestError("other", request=REQUEST), "unreachable", True, "RequestError"),
    ],
)
def test_network_exceptions_map_to_kinds_by_their_most_specific_class(
    error: httpx.RequestError, kind: str, retryable: bool, words: str
) -> None:
    failure = transport_failure(error, "http://base")
    assert (failure.kind, failure.retryable) == (kind, retryable)
    assert words in failure.message


def test_the_docs_list_every_error_kind_with_its_meaning() -> None:
    """docs/tools.md's table of kinds is the enum's, row for row (the README links to it)."""
    docs = (Path(__file__).resolve().parent.parent / "docs" / "tools.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| (.+) \|$", docs, re.MULTILINE)
    assert rows == [(kind.value, kind.meaning) for kind in ErrorKind]
