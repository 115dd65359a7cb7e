"""The daemon's copy of its config's drift report, refreshed in the background.

A Prometheus scrape reads this copy and never queries the ledger itself: a scrape's
cost stays flat at any number of workspaces, and a busy ledger or server never
makes a scrape time out. The copy is at most REFRESH old, plus one refresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tfo.config.drift_models import DriftReport
from tfo.config.errors import TfoError

REFRESH = 10.0
log = logging.getLogger(__name__)


class DriftCache:
    """Args:
    fetch: Reads the current report (None: the config was never checked).
    every: Seconds between refreshes.
    """

    def __init__(self, fetch: Callable[[], Awaitable[DriftReport | None]], *, every: float = REFRESH) -> None:
        self._fetch = fetch
        self._every = every
        self._report: DriftReport | None = None

    def reports(self) -> list[DriftReport]:
        return [self._report] if self._report is not None else []

    async def refresh(self) -> None:
        try:
            self._report = await self._fetch()
        except (TfoError, TimeoutError) as exc:
            # Keep the last good copy: a scrape shows it rather than nothing.
            log.warning("drift report not refreshed: %s", exc)

    async def run(self) -> None:
        """Refresh forever, the first time after one interval (see refresh())."""
        while True:
            await asyncio.sleep(self._every)
            await self.refresh()
