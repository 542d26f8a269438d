"""Polling for a record not written yet (wait_seconds): when to ask again, and how a wait is told.

One lookup and a whole batch share the schedule; a batch shares one window between all its ids.
"""

from __future__ import annotations

from collections.abc import Callable

from .failures import LookupFailed

# 0.25 s, then 1.6 times longer each time, at most 4 s.
_FIRST_POLL_SECONDS = 0.25
_POLL_GROWTH = 1.6
_POLL_CAP_SECONDS = 4.0


class PollSchedule:
    """The pauses between polls of one id, until the window closes at `until` (on `clock`)."""

    def __init__(self, until: float, clock: Callable[[], float]) -> None:
        self._until = until
        self._clock = clock
        self._interval = _FIRST_POLL_SECONDS

    def next_pause(self) -> float | None:
        """Seconds to wait before polling again, or None once the window has closed."""
        remaining = self._until - self._clock()
        if remaining <= 0:
            return None
        pause = min(self._interval, remaining)
        self._interval = min(self._interval * _POLL_GROWTH, _POLL_CAP_SECONDS)
        return pause


def note_wait(failure: LookupFailed, waited: float, wait_seconds: float) -> None:
    """Tell in `failure` how long its record was polled for, if it was."""
    if waited > 0:
        failure.waited_seconds = waited
        failure.message += f" Waited {waited:.1f} s (wait_seconds={wait_seconds:g})."
