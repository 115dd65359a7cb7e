"""The daemon's copy of its config's drift report, refreshed in the background.

A Prometheus scrape reads this copy and never queries the ledger itself: a scrape's
cost stays flat at any number of workspaces, and a busy ledger or server never
makes a scrape time out. The copy is at most REFRESH old, plus one refresh; a
refresh that takes long (the 32 ledger shards of 10,000 workspaces) waits BUSY_SHARE
times its own length before the next, so refreshing never takes more than about a
fifth of the daemon's time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from tfo.config.errors import TfoError
from tfo.daemon.metrics import ConfigGauges

REFRESH = 10.0
BUSY_SHARE = 4.0
log = logging.getLogger(__name__)


class DriftCache:
    """Args:
    fetch: Reads what the metrics show of the current report (None: the config was
        never checked).
    every: Seconds between refreshes.
    """

    def __init__(self, fetch: Callable[[], Awaitable[ConfigGauges | None]], *, every: float = REFRESH) -> None:
        self._fetch = fetch
        self._every = every
        self._report: ConfigGauges | None = None

    def reports(self) -> list[ConfigGauges]:
        return [self._report] if self._report is not None else []

    async def refresh(self) -> float:
        """Read the report again; return how long it took, in seconds."""
        began = time.monotonic()
        try:
            self._report = await self._fetch()
        except (TfoError, TimeoutError) as exc:
            # Keep the last good copy: a scrape shows it rather than nothing.
            log.warning("drift report not refreshed: %s", exc)
        return time.monotonic() - began

    async def run(self) -> None:
        """Refresh forever, the first time after one interval (see refresh())."""
        took = 0.0
        while True:
            await asyncio.sleep(max(self._every, BUSY_SHARE * took))
            took = await self.refresh()
