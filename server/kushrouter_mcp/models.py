"""Pydantic models: what the tools take and what they answer.

Field names follow the KushRouter generation record, so an agent can compare
what it extracted from a payload with what the API billed without renaming.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Endpoint = Literal["openai.chat.completions", "openai.responses", "anthropic.messages"]

USAGE_FIELDS: tuple[str, ...] = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


class Usage(BaseModel):
    """Token usage, in the generation record's own field names. Unknown fields pass through."""

    model_config = ConfigDict(extra="allow")

    prompt_tokens: int | None = Field(None, description="Input tokens.")
    completion_tokens: int | None = Field(None, description="Output tokens.")
    total_tokens: int | None = Field(None, description="Input plus output tokens.")
    cache_creation_input_tokens: int | None = Field(
        None, description="Input tokens written to the prompt cache."
    )
    cache_read_input_tokens: int | None = Field(None, description="Input tokens read from the prompt cache.")


class Generation(BaseModel):
    """A KushRouter generation record, exactly as the API returns it.

    Only `id` is required; every field the API adds later passes through unchanged.
    """

    model_config = ConfigDict(extra="allow")

    id: str = Field(description="The generation id.")
    endpoint: str | None = Field(
        None,
        description="Adapter that served the request: openai.chat.completions, openai.responses "
        "or anthropic.messages.",
    )
    stream: bool | None = Field(None, description="Whether the request was streamed.")
    model: str | None = Field(None, description="Model that produced the generation.")
    created_at: int | float | str | None = Field(None, description="Creation time (epoch seconds).")
    apiKeyId: str | None = Field(None, description="Id of the API key that created the generation.")  # noqa: N815
    usage: Usage | None = Field(None, description="Token usage billed for the generation.")
    finish_reason: str | None = Field(None, description="Why the generation stopped (e.g. stop, length).")
    status: str | None = Field(
        None, description="OpenAI Responses only: completed, requires_action, incomplete, ..."
    )


class ExtractedUsage(Usage):
    """Usage as the payload itself reported it, renamed to the generation record's fields.

    A field the payload did not carry is null, never invented; nothing else is added.
    """

    model_config = ConfigDict(extra="forbid")


class ExtractedGeneration(BaseModel):
    """One generation found in a payload."""

    id: str = Field(description="Generation id to pass to get_generation.")
    endpoint: Endpoint = Field(description="KushRouter endpoint family the id belongs to.")
    stream: bool | None = Field(
        description="True for a captured stream, false for a plain response body, null for a bare id."
    )
    model: str | None = Field(None, description="Model named in the payload, if any.")
    finish_reason: str | None = Field(
        None,
        description="finish_reason (Chat Completions) or stop_reason (Anthropic), if the payload had it.",
    )
    status: str | None = Field(None, description="Response status (OpenAI Responses), if the payload had it.")
    usage: ExtractedUsage | None = Field(
        None, description="Usage the payload itself reported, in the generation record's field names."
    )


class ExtractionResult(ExtractedGeneration):
    """The first generation found, plus every distinct id in order of appearance."""

    ids: list[str] = Field(description="Every distinct generation id in the payload, in order of appearance.")
    generations: list[ExtractedGeneration] = Field(
        description="One entry per id in `ids`, same order, with what the payload said about it."
    )


# --- get_generations: a batch of lookups with totals ---------------------------------------------


class ItemError(BaseModel):
    """Why one id has no record."""

    kind: str = Field(
        description="invalid_id, not_found, unauthorized, forbidden, rate_limited, upstream_error, timeout, "
        "unreachable, bad_response or rejected."
    )
    message: str = Field(description="What happened and what to do, in plain words.")


class BatchItem(BaseModel):
    """One distinct id of the batch, with its record or the reason it has none."""

    id: str = Field(description="The id as given.")
    generation: Generation | None = Field(None, description="The API's record, unchanged, when found.")
    error: ItemError | None = Field(None, description="Why there is no record, when not found or failed.")
    waited_seconds: float | None = Field(
        None, description="Seconds spent waiting for the record to appear (only with wait_seconds)."
    )


class UsageTotals(BaseModel):
    """The usage token fields summed over the found records (a missing field counts as 0)."""

    generations: int = Field(description="Found records counted in these totals.")
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


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
