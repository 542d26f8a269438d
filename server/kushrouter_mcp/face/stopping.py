"""Calls cut short by a stop: the one error that says so, in every transport.

Over HTTP the graceful shutdown lets calls in flight finish for a grace period; `stop_calls` then
cancels the ones still running, and `AnswerStoppedCalls` (a middleware around every request)
answers each with a JSON-RPC error instead of leaving its stream to close with nothing. The stdio
server answers its cancelled calls with the same code and words.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Final

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import CONNECTION_CLOSED

STOPPING_CODE: Final = CONNECTION_CLOSED  # -32000: what the SDK answers a call whose connection went


def stopping_message(signal_name: str) -> str:
    """What a caller whose call was cut short by a stop reads."""
    return (
        f"The server is stopping ({signal_name}); this call was cancelled before it finished: "
        "call it again once the server is back."
    )


@dataclass
class _Calls:
    """The requests running in this process, each in its own cancel scope, and the stop, once made."""

    running: set[anyio.CancelScope] = field(default_factory=set)
    stopped_by: str | None = None
    due_at: float | None = None  # time.monotonic() by which the stop under way wants the process done


_CALLS: Final = _Calls()


def stop_calls(signal_name: str) -> int:
    """Cancel every request still running, and any that starts after; each is answered with the
    stopping error. How many were running."""
    _CALLS.stopped_by = signal_name
    for scope in _CALLS.running:
        scope.cancel()
    return len(_CALLS.running)


def stop_due_in(seconds: float) -> None:
    """A graceful stop has begun and is due within `seconds`: what the ledger's last writes may use."""
    _CALLS.due_at = time.monotonic() + seconds


def stop_budget(least: float) -> float:
    """Seconds left of the stop under way, and at least `least` (all a stop gets without a timeout)."""
    left = 0.0 if _CALLS.due_at is None else _CALLS.due_at - time.monotonic()
    return max(least, left)


class AnswerStoppedCalls(ServerMiddleware[Any]):
    """Runs each request so that `stop_calls` can cut it short with the stopping error as its answer."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.request_id is None:  # a notification: nothing waits for an answer
            return await call_next(ctx)
        if _CALLS.stopped_by is None:
            with anyio.CancelScope() as scope:
                _CALLS.running.add(scope)
                try:
                    return await call_next(ctx)
                finally:
                    _CALLS.running.discard(scope)
        # Stopped before it began, or cancelled by stop_calls (only that cancel ends up here).
        raise MCPError(STOPPING_CODE, stopping_message(_CALLS.stopped_by or "stop"))
