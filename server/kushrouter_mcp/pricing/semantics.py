"""What each part of a record's usage means, by endpoint (pure).

KushRouter reports every endpoint in one shape, but the adapters count input differently:

- `openai.chat.completions`, `openai.responses` (OpenAI semantics): `prompt_tokens` is the whole
  input; the cache reads (and any cache writes) are already inside it.
- `anthropic.messages` (Anthropic semantics): `prompt_tokens` is the uncached input only; cache
  reads and cache writes come on top, and the billed input is the sum of the three.

The semantics follow the endpoint, never the model: a Claude model called through the
OpenAI-compatible endpoint reports OpenAI-style counts (and is still priced at Anthropic's rates).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

OPENAI_ENDPOINTS = frozenset(("openai.chat.completions", "openai.responses"))
ANTHROPIC_ENDPOINTS = frozenset(("anthropic.messages",))


@dataclass(frozen=True)
class BilledTokens:
    """A record's tokens split into the four parts priced at their own rates."""

    uncached_input: int
    cache_read: int
    cache_write: int
    output: int
    note: str | None  # how the split was read from the record, when cache tokens are involved

    @property
    def whole_input(self) -> int:
        """All input tokens, cached or not: what a tiered price's threshold counts."""
        return self.uncached_input + self.cache_read + self.cache_write


class Unpriceable(ValueError):
    """The usage can't be split honestly; the message says why and what would fix it."""


def _count(usage: Mapping[str, object], name: str) -> int | None:
    value = usage.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _required(usage: Mapping[str, object], name: str) -> int:
    value = _count(usage, name)
    if value is None:
        shown = usage.get(name)
        raise Unpriceable(f"usage has no {name} count ({shown!r}), so the total would be partial")
    return value


def billed_tokens(endpoint: str | None, usage: Mapping[str, object] | None) -> BilledTokens:
    """The four parts of `usage` under `endpoint`'s semantics, or Unpriceable saying why not."""
    if not usage:
        raise Unpriceable("no usage reported, so there is nothing to price")
    prompt = _required(usage, "prompt_tokens")
    output = _required(usage, "completion_tokens")
    read = _count(usage, "cache_read_input_tokens") or 0
    write = _count(usage, "cache_creation_input_tokens") or 0
    if not read and not write:
        return BilledTokens(prompt, 0, 0, output, None)
    if endpoint in ANTHROPIC_ENDPOINTS:
        return BilledTokens(prompt, read, write, output, _anthropic_note(prompt, read, write))
    if endpoint in OPENAI_ENDPOINTS:
        return _openai_split(endpoint, prompt, read, write, output)
    raise Unpriceable(
        f"endpoint {endpoint!r} has no known token semantics, and with cache tokens in the usage the "
        "uncached input can't be told apart"
    )


def _anthropic_note(prompt: int, read: int, write: int) -> str:
    return (
        f"anthropic.messages semantics: prompt_tokens ({prompt:,}) excludes cache reads ({read:,}) and "
        f"writes ({write:,}); billed input {prompt + read + write:,}, each part at its own rate."
    )


def _openai_split(endpoint: str, prompt: int, read: int, write: int, output: int) -> BilledTokens:
    if read + write <= prompt:
        note = (
            f"{endpoint} semantics: prompt_tokens ({prompt:,}) includes cache reads ({read:,})"
            + (f" and writes ({write:,})" if write else "")
            + f"; uncached input {prompt - read - write:,}, each part at its own rate."
        )
        return BilledTokens(prompt - read - write, read, write, output, note)
    if read <= prompt:
        # Cache writes on top of a prompt count that holds the reads: an adapter that passes
        # Anthropic-style write counts through. Counted as extra input, not subtracted twice.
        note = (
            f"{endpoint} semantics: prompt_tokens ({prompt:,}) includes cache reads ({read:,}) but can't "
            f"hold all {write:,} cache writes, so the writes count on top; each part at its own rate."
        )
        return BilledTokens(prompt - read, read, write, output, note)
    raise Unpriceable(
        f"usage is inconsistent for {endpoint}: cache_read_input_tokens ({read:,}) exceeds prompt_tokens "
        f"({prompt:,}), which under OpenAI semantics already includes them"
    )
