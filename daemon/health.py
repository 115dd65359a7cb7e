"""Readiness: connected to Temporal, and every worker still polling."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client

CHECK_EVERY = 5.0


class Readiness:
    """Tracks what /readyz reports; `watch` keeps it current until cancelled."""

    def __init__(self) -> None:
        self.connected = False
        self.started = False
        self._tasks: Sequence[asyncio.Task[None]] = ()

    def attach(self, tasks: Sequence[asyncio.Task[None]]) -> None:
        self._tasks = tasks

    def __call__(self) -> bool:
        return self.started and self.connected and bool(self._tasks) and all(not t.done() for t in self._tasks)

    async def watch(self, client: Client) -> None:
        while True:
            try:
                self.connected = await client.service_client.check_health(timeout=timedelta(seconds=2))
            except Exception:  # any RPC failure means "not reachable"
                self.connected = False
            await asyncio.sleep(CHECK_EVERY)
