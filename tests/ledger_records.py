"""Ledger test records: a clock the test moves and a record as a lookup hands it to the ledger,
shared by the file's tests (test_ledger.py) and the suite both backends run (test_ledger_postgres.py)."""

from __future__ import annotations

from typing import Any


class Clock:
    """A clock the test moves: `seen` times the test knows exactly."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(
    gen_id: str, created_at: object = 1731753062, cost: float | None = 0.0042, **fields: Any
) -> dict[str, Any]:
    """A record as a lookup hands it to the ledger: the API's fields and this server's estimate."""
    usage = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
             "cache_creation_input_tokens": 7, "cache_read_input_tokens": 64}  # fmt: skip
    made: dict[str, Any] = {
        "id": gen_id,
        "endpoint": "openai.chat.completions",
        "model": "gpt-5-mini-2025-08-07",
        "apiKeyId": "ak_test",
        "usage": usage,
        "estimated_cost": {"total": cost, "currency": "USD"},
    }
    if created_at is not None:
        made["created_at"] = created_at
    return {**made, **fields}
