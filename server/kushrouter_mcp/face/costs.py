"""Cost estimates on what the tools return: records priced as they pass, list prices loaded off-loop.

genai-prices is imported on the first lookup, in a worker thread while that lookup's request is in
flight, so neither start-up nor the event loop (other callers, over HTTP) waits for it.
"""

from __future__ import annotations

import gc
import logging
import re
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from ..ledger import Ledger
from ..ledger.recording import RecordingLookup
from ..settings.config import PRICES_OFF, PRICES_UPDATE_ON, Settings
from ..settings.keys import ApiKey
from ..upstream.batch import RecordLookup
from ..upstream.client import Lookup
from ..upstream.failures import LookupFailed

if TYPE_CHECKING:  # the pricing layer loads on the first estimate: a start pays for none of it
    from ..pricing import Pricer
    from ..pricing.list_prices import ListPrices

logger = logging.getLogger(__name__)


class Costs:
    """The server's cost estimates: one Pricer, made on first use and shared by every session."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pricer: Pricer | None = None
        self._making = threading.Lock()

    @property
    def ready(self) -> bool:
        """Made, and list prices loaded: pricing costs no more than its arithmetic from now on."""
        return self._pricer is not None and self._pricer.loaded

    def load(self) -> Pricer:
        """The pricer with list prices loaded (or found unavailable, which is logged once)."""
        pricer = self.pricer()
        if not pricer.loaded and pricer.load() is None:
            logger.warning("%s; estimates price only what a prices file covers", pricer.unavailable)
        return pricer

    def pricer(self) -> Pricer:
        if self._pricer is None:
            with self._making:
                if self._pricer is None:
                    self._pricer = self._make()
        return self._pricer

    def _make(self) -> Pricer:
        from ..pricing import Pricer

        prices = self.settings.prices  # a checked prices file, or None: `off` makes no Costs
        return Pricer(None if isinstance(prices, str) else prices, on_load=self._loaded)

    def _loaded(self, list_prices: ListPrices) -> None:
        """List prices just loaded: keep their data out of garbage collection, start any update."""
        # Their tens of thousands of objects live as long as the process: frozen, no collection
        # traverses them again (each full collection would, on every lookup's allocations).
        gc.freeze()
        if self.settings.prices_update is not None:
            _start_update(list_prices, self.settings.prices_update)


def costs_for(settings: Settings) -> Costs | None:
    """The server's estimates, or None when they are off (KUSHROUTER_MCP_PRICES=off)."""
    return None if settings.prices == PRICES_OFF else Costs(settings)


class PricedLookup:
    """A RecordLookup whose records carry their estimated_cost beside the API's fields."""

    def __init__(self, api: RecordLookup, costs: Costs) -> None:
        self.api = api
        self.costs = costs

    async def lookup(self, generation_id: str, key: ApiKey | None, wait_seconds: float = 0.0) -> Lookup:
        if self.costs.ready:
            found = await self.api.lookup(generation_id, key, wait_seconds)
        else:
            found = await self._lookup_while_loading(generation_id, key, wait_seconds)
        return Lookup(self.costs.pricer().with_estimate(found.record), found.waited_seconds, found.cached)

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
        await anyio.to_thread.run_sync(self.costs.load, abandon_on_cancel=True)


def served_lookups(api: RecordLookup, costs: Costs | None, ledger: Ledger | None) -> RecordLookup:
    """The lookups the tools (and `report --refresh`) use: the API's records, priced unless
    estimates are off, written to the ledger as they pass unless it is off."""
    records: RecordLookup = api if costs is None else PricedLookup(api, costs)
    return records if ledger is None else RecordingLookup(records, ledger)


def priced_extraction(found: dict[str, Any], costs: Costs | None) -> dict[str, Any]:
    """The extraction result with each generation's payload usage priced (the cost it claimed)."""
    if costs is None:
        return found
    pricer = costs.load()
    for generation in (found, *found.get("generations", ())):
        usage = generation.get("usage")
        if usage:
            generation["estimated_cost"] = pricer.estimate(
                generation.get("endpoint"), generation.get("model"), usage
            )
    return found


def _start_update(list_prices: ListPrices, source: str) -> None:
    """Fetch newer data in a thread; a failure keeps the snapshot."""
    threading.Thread(
        target=_fetch, args=(list_prices, source), name="genai-prices update", daemon=True
    ).start()


# A mirror's URL may carry an access token in its query: logs show the URL without it.
_QUERY = re.compile(r"\?[^\s'\"]*")


def _shown_url(url: str) -> str:
    return _QUERY.sub("?…", url)


def _fetch(list_prices: ListPrices, source: str) -> None:
    from genai_prices import UpdatePrices

    updater = UpdatePrices() if source == PRICES_UPDATE_ON else UpdatePrices(url=source)
    try:
        snapshot = updater.fetch()
    except Exception as error:  # any failure: the bundled data stays in use
        logger.warning(
            "could not fetch newer genai-prices data from %s (%s: %s); estimates keep using %s",
            _shown_url(updater.url),
            type(error).__name__,
            _QUERY.sub("?…", str(error))[:200],
            list_prices.source,
        )
        return
    if snapshot is None:
        return
    list_prices.use_fetched(snapshot, datetime.now(UTC))
    logger.info("estimates now use %s", list_prices.source)
