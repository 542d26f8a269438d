"""The ledger end to end: the SDK's client, real server processes (stdio, HTTP), the sandbox over TCP,
real SQLite files.

Every expected sum is computed here from the records the test published (their times, models,
endpoints and usage) and from the estimated costs the lookups answered with; none is read back
from a report to be compared with itself.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import math
import random
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import httpx
import jsonschema
import pytest
from mcp import Client

from conftest import LEAK_CANARY, StartProcess, server_env, stdio_server
from http_helpers import JSON_HEADERS, StartHttp, bearer_client, rpc
from kushrouter_mcp.records.models import USAGE_FIELDS
from kushrouter_mcp.sandbox.runner import RunningSandbox
from kushrouter_mcp.sandbox.samples import ALICE_KEY, BOB_KEY, KEY_OWNERS, UNPRICED_MODEL
from test_ledger import assert_no_key_in_files

pytestmark = pytest.mark.anyio

TOKEN_FIELDS = USAGE_FIELDS  # the record's five token counts
MODELS = {  # model: the endpoint its records come from
    "gpt-5-mini-2025-08-07": "openai.chat.completions",
    "gpt-5-2025-08-07": "openai.responses",
    "claude-sonnet-4-5-20250929": "anthropic.messages",
    UNPRICED_MODEL: "openai.chat.completions",
}
# The period the published records fall in: 2026-10-05 to 2026-10-07, both days included.
FIRST_DAY = datetime(2026, 10, 5, tzinfo=UTC)
SINCE, UNTIL = "2026-10-05", "2026-10-07"
OUTSIDE = datetime(2026, 9, 1, 12, tzinfo=UTC)  # a record made before the period
GROUPINGS = [["day"], ["model"], ["endpoint"], ["day", "model"], ["model", "endpoint"], []]


# --- Publishing records the test chooses ------------------------------------------------------------


def publish(sandbox: RunningSandbox, gen_id: str, owner: str = "alice", **fields: Any) -> dict[str, Any]:
    """A record the sandbox serves to `owner`'s key, with the fields given.

    `publish` keeps the very dict it returns, so fields changed on it before any lookup are what
    lookups find.
    """
    made = sandbox.state.publish(gen_id, owner=owner)
    made.update(fields)
    for name, value in fields.items():
        if value is None:
            del made[name]  # a field the record doesn't have at all
    return copy.deepcopy(made)


def created_at_form(moment: datetime, form: int) -> object:
    """`created_at` as the API might write it: epoch seconds, milliseconds, ISO UTC, ISO with an offset."""
    if form == 0:
        return int(moment.timestamp())
    if form == 1:
        return int(moment.timestamp()) * 1000
    if form == 2:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.astimezone(timezone(timedelta(hours=-5))).isoformat()


def publish_period(
    sandbox: RunningSandbox, count: int, seed: int, owner: str = "alice"
) -> list[dict[str, Any]]:
    """`count` records made at known moments of the period, over every model and endpoint."""
    chance = random.Random(seed)
    prefix = uuid.uuid4().hex[:8]
    records = []
    for n in range(count):
        model = list(MODELS)[n % len(MODELS)]
        moment = FIRST_DAY + timedelta(seconds=chance.randrange(3 * 86400))
        usage = {"prompt_tokens": chance.randrange(1, 5000), "completion_tokens": chance.randrange(1, 2000)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if MODELS[model] == "anthropic.messages":
            usage["cache_read_input_tokens"] = chance.randrange(0, 3000)
            usage["cache_creation_input_tokens"] = chance.randrange(0, 900)
        status = chance.choice(["completed", "in_progress"]) if MODELS[model] == "openai.responses" else None
        made = publish(
            sandbox,
            f"chatcmpl-ledger-{prefix}-{n}",
            owner,
            model=model,
            endpoint=MODELS[model],
            created_at=created_at_form(moment, n % 4),
            usage=usage,
            status=status,
        )
        made["_at"] = moment  # the test's own note of when it was made (not sent anywhere)
        records.append(made)
    return records


# --- What the test expects ---------------------------------------------------------------------------


def group_key(record: dict[str, Any], group_by: list[str]) -> tuple[str, ...]:
    names = {
        "day": record["_at"].date().isoformat(),
        "model": record["model"],
        "endpoint": record["endpoint"],
    }
    return tuple(names[name] for name in group_by)


def expected_groups(
    records: Iterable[dict[str, Any]], costs: dict[str, float | None], group_by: list[str]
) -> dict[tuple[str, ...], dict[str, Any]]:
    """Each group's sums over the records, the costs being the estimates the lookups answered with."""
    gathered: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for record in records:
        gathered.setdefault(group_key(record, group_by), []).append(record)
    expected = {}
    for key, members in gathered.items():
        priced = [costs[r["id"]] for r in members if costs[r["id"]] is not None]
        expected[key] = {
            "generations": len(members),
            **{name: sum(r["usage"].get(name, 0) for r in members) for name in TOKEN_FIELDS},
            "estimated_cost_usd": math.fsum(priced) if priced else None,  # type: ignore[arg-type]
            "unpriced": len(members) - len(priced),
            "not_final": sum(r.get("status") not in (None, "completed") for r in members),
        }
    return expected


def assert_sums(found: dict[str, Any], expected: dict[str, Any]) -> None:
    cost, want = found["estimated_cost_usd"], expected["estimated_cost_usd"]
    assert (cost is None) == (want is None), (found, expected)
    if want is not None:
        assert cost == pytest.approx(want, abs=1e-9), (found, expected)
    assert {n: v for n, v in found.items() if n in expected and n != "estimated_cost_usd"} == {
        n: v for n, v in expected.items() if n != "estimated_cost_usd"
    }


def assert_report(
    report: dict[str, Any], records: list[dict[str, Any]], costs: dict[str, float | None], group_by: list[str]
) -> None:
    expected = expected_groups(records, costs, group_by)
    rows = report["rows"]
    assert report["group_by"] == group_by and report["more_rows"] == 0
    assert sorted(tuple(row[name] for name in group_by) for row in rows) == sorted(expected), group_by
    for row in rows:
        assert_sums(row, expected[tuple(row[name] for name in group_by)])
    everything = expected_groups(records, costs, [])[()]
    assert_sums(report["totals"], everything)

    # By day, then by cost, largest first (a group with nothing priced last).
    def order(row: dict[str, Any]) -> tuple[Any, ...]:
        cost = expected[tuple(row[name] for name in group_by)]["estimated_cost_usd"]
        return (row.get("day", ""), cost is None, -(cost or 0.0))

    assert [order(row) for row in rows] == sorted(order(row) for row in rows), rows


def estimates_of(structured: Iterable[dict[str, Any]]) -> dict[str, float | None]:
    """What each returned record's estimate totalled (None: not priced)."""
    return {record["id"]: record["estimated_cost"]["total"] for record in structured}


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


def ledger_rows(path: Path) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
        db.row_factory = sqlite3.Row
        found = {row["id"]: dict(row) for row in db.execute("SELECT * FROM generations")}
    db.close()
    return found


async def until_rows(path: Path, at_least: int) -> set[str]:
    """Poll the file (a reader of the test's own) until it holds `at_least` rows; the ids it holds then
    (committed: another connection sees them)."""
    with anyio.fail_after(20):
        while True:
            with contextlib.suppress(sqlite3.OperationalError):  # not created yet
                ids = set(ledger_rows(path))
                if len(ids) >= at_least:
                    return ids
            await anyio.sleep(0.02)


# --- Clients over each transport ---------------------------------------------------------------------

Connect = Callable[..., Any]


@pytest.fixture
def connect(
    request: pytest.FixtureRequest, sandbox: RunningSandbox, tmp_path: Path, http_server_factory: StartHttp
) -> Connect:
    """A client of a new server (over the test's transport) with these environment settings."""

    @asynccontextmanager
    async def connected(key: str, **env: str) -> AsyncIterator[Client]:
        if request.param == "stdio":
            with (tmp_path / f"stderr-{uuid.uuid4().hex[:6]}.log").open("w") as errlog:
                async with stdio_server(sandbox, errlog, api_key=key, **env) as client:
                    yield client
        else:
            url, _ = http_server_factory(server_env(sandbox.base_url, key, **env))
            async with bearer_client(url, None) as client:
                yield client

    return connected


async def output_schema(client: Client, name: str) -> dict[str, Any]:
    (tool,) = [tool for tool in (await client.list_tools()).tools if tool.name == name]
    assert tool.output_schema is not None
    return tool.output_schema


async def report_of(client: Client, schema: dict[str, Any], **arguments: Any) -> tuple[dict[str, Any], str]:
    """usage_report's structured answer (checked against the published schema) and its text."""
    result = await client.call_tool("usage_report", arguments)
    assert not result.is_error, text_of(result)
    jsonschema.Draft202012Validator(schema).validate(result.structured_content)
    return result.structured_content, text_of(result)


async def look_up_every_way(client: Client, records: list[dict[str, Any]]) -> dict[str, float | None]:
    """get_generation, the resource and get_generations (one id seen twice, one missing); the
    estimate each record came back with."""
    ids = [record["id"] for record in records]
    singles, read, batch = ids[:4], ids[4:7], [*ids[7:], ids[0], "chatcmpl-ledger-missing-0"]
    answered: list[dict[str, Any]] = []
    for gen_id in singles:
        result = await client.call_tool("get_generation", {"id": gen_id})
        assert not result.is_error, text_of(result)
        answered.append(result.structured_content)
    for gen_id in read:
        (contents,) = (await client.read_resource(f"kushrouter://generations/{gen_id}")).contents
        answered.append(json.loads(contents.text))  # type: ignore[union-attr]
    result = await client.call_tool("get_generations", {"ids": batch})
    assert not result.is_error, text_of(result)
    assert result.structured_content["counts"]["not_found"] == 1
    answered += [item["generation"] for item in result.structured_content["results"] if "generation" in item]
    costs = estimates_of(answered)
    assert set(costs) == set(ids)
    assert any(cost is None for cost in costs.values()) and any(costs.values()), "priced and unpriced both"
    return costs


# --- Lookups land; usage_report sums them ------------------------------------------------------------


@pytest.mark.parametrize("connect", ["stdio", "http"], indirect=True)
async def test_lookups_land_in_the_ledger_and_usage_report_sums_them_by_day_model_and_endpoint(
    connect: Connect, sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(KEY_OWNERS, LEAK_CANARY, "alice")  # a key whose leak would show
    path = tmp_path / "ledger" / "usage.sqlite3"
    records = publish_period(sandbox, 24, seed=7)
    outside = publish(
        sandbox, f"chatcmpl-ledger-outside-{uuid.uuid4().hex[:6]}", created_at=OUTSIDE.isoformat()
    )
    timeless = publish(sandbox, f"chatcmpl-ledger-timeless-{uuid.uuid4().hex[:6]}", created_at=None)
    async with connect(LEAK_CANARY, KUSHROUTER_MCP_LEDGER=str(path)) as client:
        schema = await output_schema(client, "usage_report")
        empty, text = await report_of(client, schema)
        assert empty["rows"] == [] and empty["totals"]["generations"] == 0 and empty["ledger"] == "on"
        assert "no records for this API key yet" in text, text
        assert not path.exists(), "nothing looked up, nothing written"

        costs = await look_up_every_way(client, records)
        seen_at = datetime.now(UTC)
        for extra in (outside, timeless):
            assert not (await client.call_tool("get_generation", {"id": extra["id"]})).is_error

        for group_by in GROUPINGS:
            report, text = await report_of(client, schema, since=SINCE, until=UNTIL, group_by=group_by)
            assert (report["since"], report["until"]) == ("2026-10-05T00:00:00Z", "2026-10-08T00:00:00Z")
            assert_report(report, records, costs, group_by)
            assert "Costs are estimates" in text
            for row in report["rows"]:
                assert all(str(row[name]) in text for name in group_by), (row, text)
        unpriced = sum(cost is None for cost in costs.values())
        assert f"{unpriced} of {len(records)} records not priced" in text, text

        limited, _ = await report_of(client, schema, since=SINCE, until=UNTIL, group_by="day,model", limit=2)
        groups = expected_groups(records, costs, ["day", "model"])
        assert len(limited["rows"]) == 2 and limited["more_rows"] == len(groups) - 2
        assert_sums(limited["totals"], expected_groups(records, costs, [])[()])

        # The record made before the period and the one with no time (counted when first seen).
        before, _ = await report_of(client, schema, since="2026-09-01", until="2026-09-01", group_by=[])
        assert before["totals"]["generations"] == 1
        assert before["totals"]["prompt_tokens"] == outside["usage"]["prompt_tokens"]
        recent, _ = await report_of(client, schema, since="1h", group_by=["model"])
        assert recent["totals"]["generations"] == 1 and recent["rows"][0]["model"] == timeless["model"]

        nothing, text = await report_of(client, schema, since="2001-01-01", until="2001-12-31")
        assert nothing["rows"] == [] and nothing["totals"]["generations"] == 0
        assert f"This key's {len(records) + 2} records in the ledger run from 2026-09-01" in text, text
        assert seen_at.strftime("%Y-%m-%d") in text and "widen since" in text, text

    found = ledger_rows(path)
    assert set(found) == {*(r["id"] for r in records), outside["id"], timeless["id"]}
    assert len({bytes(row["key_identity"]) for row in found.values()}) == 1
    assert_no_key_in_files(path.parent, LEAK_CANARY)


@pytest.mark.parametrize("connect", ["stdio", "http"], indirect=True)
async def test_usage_report_refuses_bad_arguments_saying_what_it_accepts(
    connect: Connect, tmp_path: Path
) -> None:
    bad = [
        ({"since": "yesterday"}, ["since", "not a time I can read", "2026-11-01", "7d", "24h"]),
        ({"since": "2026-11-02", "until": "2026-11-01"}, ["not before", "2026-11-01", "7d"]),
        ({"since": "999999d"}, ["years 1 to 9999", "7d"]),
        ({"group_by": ["week"]}, ["'week'", "day, model, endpoint"]),
        ({"group_by": ["day", "model", "endpoint"]}, ["3 groups", "0 to 2"]),
        ({"limit": 0}, ["1 to 10000"]),
        ({"limit": "many"}, ["1 to 10000"]),
    ]
    async with connect(ALICE_KEY, KUSHROUTER_MCP_LEDGER=str(tmp_path / "ledger.sqlite3")) as client:
        (tool,) = [tool for tool in (await client.list_tools()).tools if tool.name == "usage_report"]
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint and tool.annotations.open_world_hint is False
        for arguments, said in bad:
            result = await client.call_tool("usage_report", arguments)
            text = text_of(result)
            assert result.is_error, (arguments, text)
            assert all(words in text for words in said), (arguments, text)
            assert "Traceback" not in text and "Error executing" not in text, text


# --- Each caller its own rows (per-request keys) -----------------------------------------------------


async def test_in_per_request_mode_each_caller_sees_only_what_their_own_key_looked_up(
    sandbox: RunningSandbox, tmp_path: Path, http_server_factory: StartHttp
) -> None:
    path = tmp_path / "shared.sqlite3"
    env = server_env(
        sandbox.base_url, api_key=None, KUSHROUTER_MCP_KEY_MODE="per-request", KUSHROUTER_MCP_LEDGER=str(path)
    )
    url, log = http_server_factory(env)
    alices = publish_period(sandbox, 10, seed=1, owner="alice")
    bobs = publish_period(sandbox, 6, seed=2, owner="bob")
    costs: dict[str, dict[str, float | None]] = {"alice": {}, "bob": {}}
    async with bearer_client(url, ALICE_KEY) as alice, bearer_client(url, BOB_KEY) as bob:
        schema = await output_schema(alice, "usage_report")
        callers = (("alice", alice, alices, bobs), ("bob", bob, bobs, alices))
        for name, client, own, others in callers:
            if name == "bob":  # before Bob looks anything up, the file holds Alice's rows only
                _, text = await report_of(bob, schema, since=SINCE, until=UNTIL)
                assert "no records for this API key yet" in text and "another key" in text, text
            result = await client.call_tool("get_generations", {"ids": [r["id"] for r in [*own, *others]]})
            counts = result.structured_content["counts"]
            assert (counts["found"], counts["not_found"]) == (len(own), len(others)), "another's is a 404"
            results = result.structured_content["results"]
            costs[name] = estimates_of(item["generation"] for item in results if "generation" in item)
        for name, client, own, _ in callers:
            for group_by in (["model"], ["day", "endpoint"]):
                report, _ = await report_of(client, schema, since=SINCE, until=UNTIL, group_by=group_by)
                assert_report(report, own, costs[name], group_by)
    identities = {bytes(row["key_identity"]) for row in ledger_rows(path).values()}
    assert len(identities) == 2 and len(ledger_rows(path)) == len(alices) + len(bobs)
    for key in (ALICE_KEY, BOB_KEY):
        assert_no_key_in_files(tmp_path, key)
    assert ALICE_KEY not in log.read_text() and BOB_KEY not in log.read_text()


# --- A kill in the middle of a batch -----------------------------------------------------------------


async def post_call(http: httpx.AsyncClient, url: str, name: str, arguments: dict[str, Any]) -> None:
    """One tools/call to a stateless server, its answer unread beyond its status."""
    answer = await http.post(
        url, json=rpc("tools/call", {"name": name, "arguments": arguments}), headers=JSON_HEADERS
    )
    assert answer.status_code == 200, answer.text


async def test_a_server_killed_mid_batch_leaves_a_sound_ledger_with_every_row_it_had_committed(
    sandbox: RunningSandbox, tmp_path: Path, server_process: StartProcess
) -> None:
    path = tmp_path / "ledger.sqlite3"
    env = server_env(sandbox.base_url, ALICE_KEY, KUSHROUTER_MCP_LEDGER=str(path))
    process, port, log = server_process(env, "--stateless")
    url = f"http://127.0.0.1:{port}/mcp"
    early = publish_period(sandbox, 20, seed=3)
    batch = publish_period(sandbox, 400, seed=4)
    published = {record["id"]: record for record in [*early, *batch]}
    async with httpx.AsyncClient(timeout=60) as http:
        await post_call(http, url, "get_generations", {"ids": [r["id"] for r in early]})
        assert await until_rows(path, len(early)) == {r["id"] for r in early}
        sandbox.state.latency_seconds = 0.02  # 400 ids, 8 at a time: about a second of writes
        async with anyio.create_task_group() as group:

            async def big_batch() -> None:
                with contextlib.suppress(httpx.HTTPError):  # the kill cuts the answer off
                    await post_call(http, url, "get_generations", {"ids": [r["id"] for r in batch]})

            group.start_soon(big_batch)
            committed = await until_rows(path, len(early) + 40)  # the batch's rows are landing
            process.kill()  # SIGKILL: no atexit, no flush, a transaction perhaps half done
            process.wait()
    sandbox.state.latency_seconds = 0.0
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()
    rows = ledger_rows(path)
    assert committed <= set(rows), "every row another reader saw committed before the kill is there"
    assert len(early) + 40 <= len(rows) < len(early) + len(batch), "killed in the middle of the batch"
    for gen_id, row in rows.items():  # each row whole: its columns agree with its record
        record, api = json.loads(row["record"]), published[gen_id]
        assert {name: record[name] for name in ("id", "model", "endpoint", "usage")} == {
            name: api[name] for name in ("id", "model", "endpoint", "usage")
        }
        assert (row["model"], row["endpoint"]) == (api["model"], api["endpoint"])
        assert {n: row[n] for n in TOKEN_FIELDS} == {n: api["usage"].get(n, 0) for n in TOKEN_FIELDS}
        assert row["cost_usd"] == record["estimated_cost"]["total"]
        assert row["at"] == pytest.approx(api["_at"].timestamp())
    assert "Traceback" not in log.read_text()

    # A new server reads it (the same key, another process: the same identity) and writes to it.
    with (tmp_path / "after.log").open("w") as errlog:
        async with stdio_server(sandbox, errlog, KUSHROUTER_MCP_LEDGER=str(path)) as client:
            schema = await output_schema(client, "usage_report")
            report, _ = await report_of(client, schema, since=SINCE, until=UNTIL, group_by=[])
            assert report["totals"]["generations"] == len(rows)
            assert report["totals"]["prompt_tokens"] == sum(r["prompt_tokens"] for r in rows.values())
            missing = next(gen_id for gen_id in published if gen_id not in rows)
            assert not (await client.call_tool("get_generation", {"id": missing})).is_error
            again, _ = await report_of(client, schema, since=SINCE, until=UNTIL, group_by=[])
            assert again["totals"]["generations"] == len(rows) + 1


# --- Several processes on one file ---------------------------------------------------------------------


async def test_four_servers_writing_one_ledger_at_once_lose_nothing_and_never_report_it_locked(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    path = tmp_path / "new-dir" / "shared.sqlite3"  # new: the four also race to make it
    shares = [publish_period(sandbox, 100, seed=10 + n) for n in range(4)]
    answers: list[str] = []

    async def one_server(n: int) -> None:
        with (tmp_path / f"server-{n}.log").open("w") as errlog:
            async with stdio_server(sandbox, errlog, KUSHROUTER_MCP_LEDGER=str(path)) as client:
                for start in range(0, len(shares[n]), 50):  # two batches: writes spread over time
                    ids = [r["id"] for r in shares[n][start : start + 50]]
                    result = await client.call_tool("get_generations", {"ids": ids})
                    assert result.structured_content["counts"]["found"] == len(ids), text_of(result)
                    answers.append(text_of(result))
                answers.append(
                    text_of(await client.call_tool("usage_report", {"since": SINCE, "until": UNTIL}))
                )

    async with anyio.create_task_group() as group:
        for n in range(4):
            group.start_soon(one_server, n)
    rows = ledger_rows(path)
    assert set(rows) == {r["id"] for share in shares for r in share}
    logs = [(tmp_path / f"server-{n}.log").read_text() for n in range(4)]
    for text in [*logs, *answers]:
        assert "locked" not in text.lower() and "can't be written" not in text, text


# --- The ledger off ------------------------------------------------------------------------------------


async def test_with_the_ledger_off_nothing_is_written_and_usage_report_says_it_is_off(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    records = publish_period(sandbox, 3, seed=5)
    answers: dict[str, tuple[dict[str, Any], str]] = {}

    async def one_server(name: str, home: Path, **settings: str) -> None:
        with (tmp_path / f"{name}.log").open("w") as errlog:
            async with stdio_server(sandbox, errlog, XDG_DATA_HOME=str(home), **settings) as client:
                result = await client.call_tool("get_generations", {"ids": [r["id"] for r in records]})
                assert result.structured_content["counts"]["found"] == len(records)
                schema = await output_schema(client, "usage_report")
                answers[name] = await report_of(client, schema, since=SINCE, until=UNTIL)

    off_home, default_home = tmp_path / "data-off", tmp_path / "data-default"
    off_home.mkdir()
    default_home.mkdir()
    async with anyio.create_task_group() as group:
        group.start_soon(functools.partial(one_server, "off", off_home, KUSHROUTER_MCP_LEDGER="off"))
        group.start_soon(one_server, "default", default_home)
    report, text = answers["off"]
    assert report["ledger"] == "off" and report["rows"] == [] and report["totals"]["generations"] == 0
    assert "The ledger is off (KUSHROUTER_MCP_LEDGER=off)" in text, text
    assert list(off_home.rglob("*")) == [], "not a file, not a directory"
    # Where the file would have gone: the data directory, as the server with the default shows.
    report, _ = answers["default"]
    assert report["ledger"] == "on" and report["totals"]["generations"] == len(records)
    assert set(ledger_rows(default_home / "kushrouter-mcp" / "ledger.sqlite3")) == {r["id"] for r in records}
