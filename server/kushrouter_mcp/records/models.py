"""The KushRouter generation record and its token usage, as pydantic models (pure, no I/O).

Field names follow the KushRouter generation record, so an agent can compare
what it extracted from a payload with what the API billed without renaming.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Endpoint = Literal["openai.chat.completions", "openai.responses", "anthropic.messages"]

ESTIMATE_KEY = "estimated_cost"
# Where this server's estimate goes when the API's record already has a field of that name: an
# upstream field is never replaced.
FALLBACK_ESTIMATE_KEY = "kushrouter_mcp_estimated_cost"

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


def estimate_of(record: dict[str, Any]) -> dict[str, Any] | None:
    """This server's estimate on a record (wherever it had to go), or None when it has none."""
    estimate = record.get(FALLBACK_ESTIMATE_KEY, record.get(ESTIMATE_KEY))
    return estimate if isinstance(estimate, dict) else None


class EstimatedCost(BaseModel):
    """What a record's usage costs at the prices this server knows: an estimate, not an invoice.

    Added by this server beside the API's fields. Every amount is USD; an amount is null when it
    can't be priced (unknown model, no usage), and `note` then says what is missing.
    """

    currency: Literal["USD"] = "USD"
    total: float | None = Field(description="Sum of the four parts, USD; null when it can't be priced.")
    input: float | None = Field(description="Uncached input tokens at the input rate, USD.")
    cache_read: float | None = Field(description="Cache-read input tokens at the cache-read rate, USD.")
    cache_write: float | None = Field(description="Cache-write input tokens at the cache-write rate, USD.")
    output: float | None = Field(description="Output tokens at the output rate, USD.")
    model_priced: str | None = Field(description="The price entry matched: a model id or a prices-file glob.")
    provider: str | None = Field(description="Whose prices: the provider the model name belongs to.")
    source: str | None = Field(
        description='Where the prices came from, e.g. "genai-prices 0.2.3 bundled data" or "prices file …".'
    )
    rates_per_mtok: dict[str, float] | None = Field(
        None, description="The rates used, USD per million tokens: input, cache_read, cache_write, output."
    )
    note: str | None = Field(
        None, description="How the tokens were counted (cache semantics), or what is missing and what to do."
    )


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
    estimated_cost: EstimatedCost | None = Field(
        None,
        description="Added by this server, not by the API: the usage priced at list prices (or your prices "
        "file). Absent when estimates are off.",
    )
    kushrouter_mcp_estimated_cost: EstimatedCost | None = Field(
        None,
        description="This server's estimate, only when the API's record has an `estimated_cost` of its own.",
    )
