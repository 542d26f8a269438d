"""One back-off per API key: after a 429, every lookup with that key waits out the window together.

Without it, each concurrent lookup (the workers of a batch, a single lookup alongside) would
meet its own 429 and retry on its own clock, hammering an API that asked for quiet. With it,
a 429 closes the key's window until Retry-After has passed; then exactly one request probes,
and the others follow only once it got through. Keys are opaque identities (see `identity`),
so one user's rate limit never slows another's.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

# A window nobody came back for is forgotten this long after it ended, so a server that serves
# many keys (HTTP, per-request keys) doesn't keep one per key that ever met a 429.
FORGET_AFTER_SECONDS = 60.0
# The longest a 429 closes a key's window, whatever its Retry-After or X-RateLimit-Reset says: one
# absurd answer (999999999, 1e999, a date in the next century) must not lock a key until restart.
MAX_WINDOW_SECONDS = 60.0


class GateClosed(Exception):
    """The key's window can't be waited out within the caller's deadline."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"rate limited for another {wait_seconds:.1f} s")
        self.wait_seconds = wait_seconds


@dataclass(eq=False)
class Window:
    """A key's rate-limit window: closed until `until`, then open to one probe at a time."""

    until: float
    elapsed: bool = False
    probe: anyio.Event | None = None  # set while a probe is in flight; fired when it is done


class RateLimitGate:
    def __init__(
        self,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sleep = sleep
        self._clock = clock
        self._windows: dict[bytes, Window] = {}

    def is_limited(self, identity: bytes) -> bool:
        return identity in self._windows

    async def wait_turn(self, identity: bytes, deadline: float) -> Window | None:
        """Return when a request with this key may go: None if unlimited, else the window it probes.

        A probe must be handed back with `release`. Raises GateClosed if the wait would pass
        `deadline` (the window's remaining time is known) or if the deadline comes while
        another request is probing.
        """
        while True:
            window = self._windows.get(identity)
            if window is None:
                return None
            if not window.elapsed:
                wait = window.until - self._clock()
                if window.until >= deadline:
                    raise GateClosed(wait)
                # Trust the sleep rather than re-reading the clock: an injected sleep may not advance it.
                await self._sleep(max(0.0, wait))
                window.elapsed = True
                continue
            if window.probe is None:
                window.probe = anyio.Event()
                return window
            with anyio.move_on_after(max(0.0, deadline - self._clock())) as waiting:
                await window.probe.wait()
            if waiting.cancelled_caught:
                raise GateClosed(0.0)

    def close(self, identity: bytes, seconds: float) -> None:
        """The API answered 429 for this key: hold every request for `seconds` (or longer, if already)."""
        now = self._clock()
        until = now + min(seconds, MAX_WINDOW_SECONDS)
        current = self._windows.get(identity)
        if current is not None and not current.elapsed and current.until >= until:
            return
        self._forget_lapsed(now)  # here, where windows are added: the map can only grow here
        self._windows[identity] = Window(until)
        if current is not None and current.probe is not None:
            current.probe.set()  # those waiting on the old probe move on to the new window

    def release(self, identity: bytes, probe: Window | None, lifted: bool) -> None:
        """Hand back a probe. `lifted`: the API answered with anything but 429, so the window ends."""
        if probe is None:
            return
        if probe.probe is not None:
            probe.probe.set()
            probe.probe = None
        if lifted and self._windows.get(identity) is probe:
            del self._windows[identity]

    def _forget_lapsed(self, now: float) -> None:
        lapsed = [
            identity
            for identity, window in self._windows.items()
            if window.probe is None and window.until + FORGET_AFTER_SECONDS < now
        ]
        for identity in lapsed:
            del self._windows[identity]
