"""Temporal Schedules of plan-only drift checks, reconciled from infra.yaml.

Each schedule this config owns has the ID `tfo-sched:CONFIG_ID:NAME` (see
`daemon.schedule_owner`). Reconciling creates, updates and deletes exactly those,
replaces this config's old-format ones, and never touches another config's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from tfo.config.drift_config import ScheduleConfig
from tfo.config.errors import RunError
from tfo.config.loader import LoadedConfig
from tfo.config.payloads import RunRequest
from tfo.daemon import runs
from tfo.daemon.schedule_owner import find_owned, schedule_id, schedule_memo
from tfo.daemon.stored_config import by_reference

MIN_CATCHUP = timedelta(seconds=10)


@dataclass
class ReconcileResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def build_schedule(
    loaded: LoadedConfig, sched: ScheduleConfig, *, state_dir: Path, ui_url: str | None, namespace: str
) -> Schedule:
    request = runs.build_request(
        loaded, mode="plan", workspaces=sched.workspaces or [], state_dir=state_dir, trigger="schedule"
    )
    request.ui_url = ui_url
    request.namespace = namespace
    if sched.every is not None:
        spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=sched.every)], jitter=sched.jitter)
        # After downtime, catch up at most the latest missed check, never a storm.
        catchup = max(sched.every, MIN_CATCHUP)
    else:
        spec = ScheduleSpec(cron_expressions=[sched.cron or ""], jitter=sched.jitter)
        catchup = timedelta(minutes=1)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "ParentWorkflow",
            request,
            # Unique per config (two configs may share a name and a schedule name); the
            # server appends the firing time.
            id=f"tfo-plan-{loaded.name}-{sched.name}-{hashlib.sha256(loaded.id.encode()).hexdigest()[:8]}",
            task_queue=request.config.task_queue,
            memo={"config": request.config.path, "mode": "plan", "trigger": "schedule"},
        ),
        spec=spec,
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=catchup),
        state=ScheduleState(paused=sched.paused, note=f"managed by tfo from {loaded.path.resolve()}"),
    )


async def reconcile_schedules(
    client: Client, loaded: LoadedConfig, *, state_dir: Path, ui_url: str | None = None, namespace: str = "default"
) -> ReconcileResult:
    """Make the server's schedules for this config exactly the configured ones."""
    result = ReconcileResult()
    wanted: dict[str, Schedule] = {}
    for sched in loaded.config.schedules:
        schedule = build_schedule(loaded, sched, state_dir=state_dir, ui_url=ui_url, namespace=namespace)
        action = schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        # A big config is stored, and the schedule starts runs with its reference.
        request = action.args[0]
        assert isinstance(request, RunRequest)
        action.args = [await by_reference(request)]
        wanted[schedule_id(loaded.id, sched.name)] = schedule
    owned = await find_owned(client, loaded)
    existing = owned.current
    # Two daemons may reconcile at once: losing a create or delete race is success.
    for sid, schedule in sorted(wanted.items()):
        if sid not in existing:
            try:
                await client.create_schedule(sid, schedule, memo=schedule_memo(loaded))
                result.created.append(sid)
                continue
            except ScheduleAlreadyRunningError:
                pass

        def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=new)

        await client.get_schedule_handle(sid).update(replace)
        result.updated.append(sid)
    for sid in sorted((existing - set(wanted)) | owned.legacy):
        try:
            await client.get_schedule_handle(sid).delete()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        result.deleted.append(sid)
    return result


async def control(client: Client, loaded: LoadedConfig, name: str, action: str) -> None:
    """trigger, pause or unpause one of this config's schedules."""
    if name not in {s.name for s in loaded.config.schedules}:
        raise RunError(f"no schedule {name!r} in {loaded.path}")
    handle = client.get_schedule_handle(schedule_id(loaded.id, name))
    try:
        if action == "trigger":
            await handle.trigger(overlap=ScheduleOverlapPolicy.SKIP)
        elif action == "pause":
            await handle.pause(note="paused with tfo schedules pause")
        elif action == "unpause":
            await handle.unpause(note="unpaused with tfo schedules unpause")
    except RPCError as exc:
        raise RunError(f"schedule {name}: {exc.message} (run `tfo schedules sync` first?)") from None
