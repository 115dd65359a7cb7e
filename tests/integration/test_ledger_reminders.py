"""The drift ledger reminds of drift that stays, and remembers when it last did (real server)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from tests.conftest import running_workers
from tests.integration.drift_helpers import AlertReceiver
from tests.reliability.test_history_limits import cycle
from tfo.config.drift_config import AlertsConfig
from tfo.config.drift_models import DriftReport, DriftStatus, LedgerState, ledger_id


async def test_drift_that_stays_is_reminded_and_the_reminder_is_remembered(temporal_env, task_queue):  # type: ignore[no-untyped-def]
    client = temporal_env.client
    config = f"remind-{task_queue}"
    with AlertReceiver().serving() as hook:
        alerts = AlertsConfig(urls=[hook.url], remind_every=timedelta(seconds=1))
        async with running_workers(client, task_queue):
            handle = await client.start_workflow(
                "DriftLedgerWorkflow",
                LedgerState(config=config),
                id=ledger_id(config),
                task_queue=task_queue,
                start_signal="record",
                start_signal_args=[cycle(config, 50, alerts)],  # ws00 drifted, 19 clean
            )
            deadline = time.monotonic() + 60
            while len(hook.titles()) < 3:
                assert time.monotonic() < deadline, hook.titles()
                await asyncio.sleep(0.2)
            first, later = hook.received()[0], await handle.query("report", result_type=DriftReport)
            await handle.terminate()
    ws00 = later.workspaces["ws00"]
    assert ws00.status == DriftStatus.DRIFTED
    titles = hook.titles()
    assert titles[0].startswith("Drift detected"), titles
    assert all(t.startswith("Drift still present") for t in titles[1:]), titles
    # The reminders' time is kept in the ledger's records: it moved past the first alert's.
    assert ws00.last_alert_at is not None and ws00.last_alert_at > ws00.checked_at, (ws00, first)
