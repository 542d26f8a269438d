"""The KushRouter generation record and its token usage, as pydantic models (pure, no I/O).

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
