"""The tools' contracts: titles, descriptions, argument schemas and the batch's output model."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from ..records.ids import GENERATION_ID_SCHEMA
from ..records.models import Generation
from ..reports.periods import ACCEPTED_TIMES, DEFAULT_GROUP_BY, DEFAULT_LIMIT, GROUPS, MAX_GROUPS, MAX_LIMIT
from ..upstream.batch import MAX_BATCH_IDS
from ..upstream.failures import ErrorKind

# A batch answers a missing key once for the whole call, so no item carries no_key.
_ITEM_ERROR_KINDS = ", ".join(kind for kind in ErrorKind if kind is not ErrorKind.NO_KEY)


class ItemError(BaseModel):
    """Why one id has no record."""

    kind: ErrorKind = Field(description="Why, for programs: a stable value (see the tool's description).")
    message: str = Field(description="What happened and what to do, in plain words.")


class BatchItem(BaseModel):
    """One distinct id of the batch, with its record or the reason it has none."""

    id: str = Field(description="The id as given (without one pair of quotes around it, if it had them).")
    generation: Generation | None = Field(None, description="The API's record, unchanged, when found.")
    error: ItemError | None = Field(None, description="Why there is no record, when not found or failed.")
    waited_seconds: float | None = Field(
        None, description="Seconds spent waiting for the record to appear (only with wait_seconds)."
    )


class UsageTotals(BaseModel):
    """The usage token fields summed over the found records (a missing field counts as 0)."""

    generations: int = Field(description="Records counted in these totals.")
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    estimated_cost_usd: float | None = Field(
        description="Sum of the priced records' estimated_cost totals, USD (null when none is priced)."
    )
    unpriced: int = Field(
        description="Records counted here whose cost could not be estimated (unknown model, no usage, "
        "estimates off): when above 0, estimated_cost_usd is a partial sum."
    )


class BatchTotals(BaseModel):
    overall: UsageTotals
    by_model: dict[str, UsageTotals] = Field(description='Keyed by the record\'s model ("unknown" if none).')
    by_endpoint: dict[str, UsageTotals] = Field(
        description='Keyed by the record\'s endpoint ("unknown" if none).'
    )


class BatchCounts(BaseModel):
    ids: int = Field(description="Distinct ids looked up (duplicates are collapsed).")
    found: int
    not_found: int
    failed: int = Field(description="Invalid ids and lookups that failed for any reason but a 404.")


class BatchResult(BaseModel):
    """Every distinct id in the order given, with totals over the records found."""

    results: list[BatchItem]
    counts: BatchCounts
    totals: BatchTotals


GET_GENERATION_DESCRIPTION = """\
Look up KushRouter's record of one completed LLM request by its generation id: endpoint, model, \
whether it streamed, the token usage KushRouter billed (prompt, completion, total, cache read and \
cache write) and the finish reason, with `estimated_cost`: that usage priced in USD at list prices, \
each part (uncached input, cache read, cache write, output) at its own rate, with its source.
The id is the request's own id from its response: Chat Completions `chatcmpl-…`, Responses `resp_…`, \
Anthropic Messages `msg_…` — call extract_generation_id first if you hold the raw body or stream.
Only the API key that made the request can read its record; a record can take a few seconds to appear \
after the request ends: pass wait_seconds (up to 60) to keep polling until it does. Records are kept \
for at least 7 days; completed records are cached, so asking again is free."""

GET_GENERATIONS_DESCRIPTION = f"""\
Look up many KushRouter generations in one call — e.g. every request of a session — and get the \
token usage KushRouter billed for them, and its estimated cost, summed up: overall, by model and by \
endpoint (`unpriced` counts records whose cost could not be estimated).
Pass `ids` (1 to {MAX_BATCH_IDS}; duplicates are looked up once, order is kept). Each id gets its \
record, or an error with a kind ({_ITEM_ERROR_KINDS}) and a message; one id's failure never fails \
the call. `counts` says how \
many were found, not found and failed. Lookups run concurrently and back off together if KushRouter \
rate-limits the key. Right after the requests finished, pass wait_seconds (up to 60) so records that \
are not written yet are polled for."""

WAIT_SECONDS_MAX = 60.0
WAIT_SECONDS_SCHEMA: dict[str, Any] = {
    "type": "number",
    "minimum": 0,
    "maximum": WAIT_SECONDS_MAX,
    "default": 0,
}

EXTRACT_DESCRIPTION = """\
Find the KushRouter generation id in an LLM response you hold, to pass to get_generation. Accepts \
the raw payload as text or JSON: a response body, a captured SSE stream (with or without `event:` \
lines), NDJSON, a JSON array of stream events, JSON inside a Markdown fence or with prose around it, a \
truncated stream, or a bare id.
Returns `id`, `endpoint` (openai.chat.completions, openai.responses or anthropic.messages), `stream`, \
and the token `usage` the payload itself reported (in the record's field names), with its \
`estimated_cost`, so both can be compared with what was billed. A payload holding several requests \
lists every id in `ids`, in order.
Tool-call ids, output-item ids and ids quoted inside generated text are ignored. Needs no key or network."""

WAIT_SECONDS_DESCRIPTION = (
    "Seconds to keep polling while the record is not found yet (0 to 60, default 0): a record can take a "
    "few seconds to appear after the request ends."
)

# The arguments are typed loosely on purpose: the published schema still says string, array or
# number, but a wrong type reaches the tools' own checks and gets a plain-words answer instead of
# a pydantic dump (a bad id in a batch is a per-id error, not a failed call).
GenerationIdArgument = Annotated[
    object,
    Field(
        description="Generation id from the response: chatcmpl-…, resp_… or msg_…. "
        "1 to 256 characters, no whitespace or control characters.",
        json_schema_extra=GENERATION_ID_SCHEMA,
    ),
]
IdsArgument = Annotated[
    object,
    Field(
        description=f"Generation ids to look up (1 to {MAX_BATCH_IDS}); duplicates count once.",
        json_schema_extra={
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "maxItems": MAX_BATCH_IDS,
        },
    ),
]
WaitSecondsArgument = Annotated[
    object, Field(description=WAIT_SECONDS_DESCRIPTION, json_schema_extra=WAIT_SECONDS_SCHEMA)
]


# --- usage_report ------------------------------------------------------------------------------------


class ReportTotals(UsageTotals):
    """A group's (or the period's) sums over the ledger's records: the batch's sums, and more."""

    not_final: int = Field(
        description="Records not final when last looked up (e.g. a Responses call still running); "
        "`kushrouter-mcp report --refresh` looks them up again."
    )


class ReportRow(ReportTotals):
    """One group: its keys (only those asked for in group_by) and its sums."""

    day: str | None = Field(None, description="UTC day, YYYY-MM-DD (when grouped by day).")
    model: str | None = Field(None, description='The model ("unknown" if the records had none).')
    endpoint: str | None = Field(None, description='The endpoint ("unknown" if the records had none).')


class UsageReport(BaseModel):
    """Usage and estimated cost from this server's ledger, for the calling key only."""

    since: str = Field(description="Start of the period (included), UTC, ISO 8601.")
    until: str = Field(description="End of the period (excluded), UTC, ISO 8601.")
    group_by: list[Literal["day", "model", "endpoint"]]
    rows: list[ReportRow] = Field(description="By day, then by cost (largest first); at most `limit`.")
    more_rows: int = Field(description="Groups left out by `limit` (the totals still count them).")
    totals: ReportTotals = Field(description="Over the whole period, every group included.")
    ledger: Literal["on", "off"] = Field(description='"off" when KUSHROUTER_MCP_LEDGER=off: nothing is kept.')


USAGE_REPORT_DESCRIPTION = f"""\
Report the token usage and estimated cost of every generation this server has looked up with your \
key (by get_generation, get_generations or the resource), from its local ledger: it outlives both \
KushRouter's ~7-day retention and this conversation. Totals for a period, grouped by `day` (UTC), \
`model` and/or `endpoint` (0 to {MAX_GROUPS} of them, default {list(DEFAULT_GROUP_BY)}).
`since`/`until`: {ACCEPTED_TIMES}; default the last 7 days. A date alone in `until` includes that \
day. Records count at the time the request was made (their created_at). `unpriced` counts records \
without a cost estimate; `limit` (1 to {MAX_LIMIT}, default {DEFAULT_LIMIT}) caps the rows, never \
the totals. Only records looked up through this server are in it: look ids up first to add them."""

_TIME_SCHEMA: dict[str, Any] = {"type": "string"}
SinceArgument = Annotated[
    object,
    Field(
        description=f"Start of the period: {ACCEPTED_TIMES}. Default: 7 days before until.",
        json_schema_extra=_TIME_SCHEMA,
    ),
]
UntilArgument = Annotated[
    object,
    Field(description=f"End of the period: {ACCEPTED_TIMES}. Default: now.", json_schema_extra=_TIME_SCHEMA),
]
GroupByArgument = Annotated[
    object,
    Field(
        description=f"0 to {MAX_GROUPS} of day, model, endpoint, in the order to group by.",
        json_schema_extra={
            "type": "array",
            "items": {"type": "string", "enum": list(GROUPS)},
            "maxItems": MAX_GROUPS,
            "uniqueItems": True,
            "default": list(DEFAULT_GROUP_BY),
        },
    ),
]
LimitArgument = Annotated[
    object,
    Field(
        description=f"Rows at most (1 to {MAX_LIMIT}); the totals always count every row.",
        json_schema_extra={"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    ),
]
