"""What extraction answers: the generations found in a payload, with the usage the payload reported."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..records.models import Endpoint, EstimatedCost, Usage


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
    estimated_cost: EstimatedCost | None = Field(
        default=None,
        description="The payload's own usage priced (the cost the response claimed), to set beside the "
        "billed record's; null when the payload reported no usage or estimates are off.",
    )


class ExtractionResult(ExtractedGeneration):
    """The first generation found, plus every distinct id in order of appearance."""

    ids: list[str] = Field(description="Every distinct generation id in the payload, in order of appearance.")
    generations: list[ExtractedGeneration] = Field(
        description="One entry per id in `ids`, same order, with what the payload said about it."
    )
