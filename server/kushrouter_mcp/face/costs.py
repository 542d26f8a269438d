"""Cost estimates on what the tools return: records priced as they pass, list prices loaded off-loop.

genai-prices is imported on the first lookup, in a worker thread while that lookup's request is in
flight, so neither start-up nor the event loop (other callers, over HTTP) waits for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread

from ..pricing import Pricer
from ..pricing.list_prices import ListPrices
from ..settings.config import PRICES_OFF, PRICES_UPDATE_ON, Settings
from ..settings.keys import ApiKey
from ..settings.prices_file import PricesFile
from ..upstream.batch import RecordLookup
from ..upstream.client import Lookup
from ..upstream.failures import LookupFailed

logger = logging.getLogger(__name__)


def pricer_for(settings: Settings) -> Pricer | None:
    """The server's pricer, or None when estimates are off (KUSHROUTER_MCP_PRICES=off)."""
    if settings.prices == PRICES_OFF:
        return None
    prices_file = settings.prices if isinstance(settings.prices, PricesFile) else None
    update = settings.prices_update
    return Pricer(prices_file, on_load=None if update is None else _updater(update))


class PricedLookup:
    """A RecordLookup whose records carry their estimated_cost beside the API's fields."""

    def __init__(self, api: RecordLookup, pricer: Pricer) -> None:
        self.api = api
        self.pricer = pricer

    async def lookup(self, generation_id: str, key: ApiKey | None, wait_seconds: float = 0.0) -> Lookup:
        if self.pricer.loaded:
            found = await self.api.lookup(generation_id, key, wait_seconds)
        else:
            found = await self._lookup_while_loading(generation_id, key, wait_seconds)
        return Lookup(self.pricer.with_estimate(found.record), found.waited_seconds, found.cached)

    async def _lookup_while_loading(
        self, generation_id: str, key: ApiKey | None, wait_seconds: float
    ) -> Lookup:
        outcome: Lookup | LookupFailed
        async with anyio.create_task_group() as group:
            group.start_soon(self._load)
            try:
                outcome = await self.api.lookup(generation_id, key, wait_seconds)
            except LookupFailed as failure:  # raised once the load is done: the next call finds it loaded
                outcome = failure
        if isinstance(outcome, LookupFailed):
            raise outcome
        return outcome

    async def _load(self) -> None:
        await anyio.to_thread.run_sync(self.pricer.load, abandon_on_cancel=True)


def priced_extraction(found: dict[str, Any], pricer: Pricer | None) -> dict[str, Any]:
    """The extraction result with each generation's payload usage priced (the cost it claimed)."""
    if pricer is None:
        return found
    for generation in (found, *found.get("generations", ())):
        usage = generation.get("usage")
        if usage:
            generation["estimated_cost"] = pricer.estimate(
                generation.get("endpoint"), generation.get("model"), usage
            )
    return found


def _updater(source: str) -> Callable[[ListPrices], None]:
    """What runs once list prices load: fetch newer data in a thread; a failure keeps the snapshot."""

    def start(list_prices: ListPrices) -> None:
        import threading

        threading.Thread(
            target=_fetch, args=(list_prices, source), name="genai-prices update", daemon=True
        ).start()

    return start


def _fetch(list_prices: ListPrices, source: str) -> None:
    from genai_prices import UpdatePrices

    updater = UpdatePrices() if source == PRICES_UPDATE_ON else UpdatePrices(url=source)
    try:
        snapshot = updater.fetch()
    except Exception as error:  # any failure: the bundled data stays in use
        logger.warning(
            "could not fetch newer genai-prices data (%s: %s); estimates keep using %s",
            type(error).__name__,
            str(error)[:200],
            list_prices.source,
        )
        return
    if snapshot is None:
        return
    list_prices.use_fetched(snapshot, datetime.now(UTC))
    logger.info("estimates now use %s", list_prices.source)
