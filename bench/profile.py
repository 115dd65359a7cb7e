"""Where a `tfo plan` spends its time: CLI phases, and a run's history timeline.

python -m bench.profile phases CONFIG [tfo plan options...]
    runs `tfo plan` in this process with timers around each phase (imports,
    server start, connect, building the workers, the run, shutdown).
python -m bench.profile timeline ADDRESS RUN_ID
    splits each workspace's time between terraform (the activity) and Temporal
    (child start, activity dispatch, completion), from the histories.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.abc
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

_T0 = time.perf_counter()
_PHASES: list[tuple[str, float, float]] = []


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        _PHASES.append((name, start - _T0, time.perf_counter() - start))


def _timed(owner: Any, attr: str, name: str) -> None:
    original = getattr(owner, attr, None)
    if original is None:  # an older tfo (see `bench --product`) may not have it
        return
    if asyncio.iscoroutinefunction(original):

        @functools.wraps(original)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with phase(name):
                return await original(*args, **kwargs)

        setattr(owner, attr, async_wrapper)
    else:

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with phase(name):
                return original(*args, **kwargs)

        setattr(owner, attr, wrapper)


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Wraps functions in timers as soon as their module is imported, not before.

    Importing them up front would move the SDK's import out of the CLI's own order
    (where it overlaps the server start) and hide what it costs.
    """

    def __init__(self, patches: dict[str, list[tuple[str, str, str]]]) -> None:
        self._patches = patches

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in self._patches:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None and spec.loader is not None:
                spec.loader = _TimedLoader(spec.loader, name, self._patches[name])
                return spec
        return None


class _TimedLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, name: str, patches: list[tuple[str, str, str]]) -> None:
        self._loader, self._name, self._patches = loader, name, patches

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        with phase(f"import {self._name}"):
            self._loader.exec_module(module)
        for owner, attr, label in self._patches:
            _timed(getattr(module, owner) if owner else module, attr, label)


def phases(argv: list[str]) -> int:
    sys.meta_path.insert(
        0,
        _PatchOnImport(
            {
                "tfo.daemon.runs": [
                    ("", "find_resumable", "find a resumable run"),
                    ("", "start_run", "start ParentWorkflow"),
                    ("", "build_request", "build request"),
                ],
                "tfo.daemon.worker": [("", "build_workers", "build workers")],
                "temporalio.worker._worker": [("Worker", "shutdown", "worker shutdown")],
            }
        ),
    )
    with phase("import CLI and the run command (typer, config)"):
        from tfo.daemon import main as tfo_main
        from tfo.daemon import session
        from tfo.daemon.cli import app  # noqa: F401
        from tfo.daemon.commands import run as run_command
        from tfo.daemon.embedded import EmbeddedServer
    _timed(EmbeddedServer, "__enter__", "embedded server start or reuse (thread)")
    _timed(EmbeddedServer, "stop", "embedded server stop")
    _timed(getattr(session, "ServerStart", None), "wait", "wait for the embedded server")
    _timed(session, "connect", "client connect")
    _timed(run_command, "watch", "follow the run to its end")
    _timed(run_command, "load_config", "load config")
    with phase("tfo plan total (after CLI import)"):
        code = tfo_main.run(["plan", *argv])
    total = time.perf_counter() - _T0
    print(f"{'phase':60} {'at s':>7} {'took s':>7}", file=sys.stderr)
    for name, at, took in sorted(_PHASES, key=lambda p: p[1]):
        print(f"{name:60} {at:7.3f} {took:7.3f}", file=sys.stderr)
    print(f"{'process total (excluding interpreter start)':60} {'':7} {total:7.3f}", file=sys.stderr)
    return code


async def timeline(address: str, run_id: str) -> None:
    from temporalio.client import Client

    client = await Client.connect(address)
    parent = await client.get_workflow_handle(run_id).fetch_history()
    events = list(parent.events)
    t0 = events[0].event_time.ToDatetime()

    def at(event: Any) -> float:
        return float((event.event_time.ToDatetime() - t0).total_seconds())

    initiated: dict[int, float] = {}
    rows = []
    for event in events:
        if event.HasField("start_child_workflow_execution_initiated_event_attributes"):
            initiated[event.event_id] = at(event)
        if event.HasField("child_workflow_execution_completed_event_attributes"):
            attrs = event.child_workflow_execution_completed_event_attributes
            execution = attrs.workflow_execution
            child = list(
                (
                    await client.get_workflow_handle(execution.workflow_id, run_id=execution.run_id).fetch_history()
                ).events
            )
            activity = 0.0
            dispatch = 0.0
            scheduled: dict[int, float] = {}
            started: dict[int, float] = {}
            for ce in child:
                if ce.HasField("activity_task_scheduled_event_attributes"):
                    scheduled[ce.event_id] = at(ce)
                if ce.HasField("activity_task_started_event_attributes"):
                    started[ce.activity_task_started_event_attributes.scheduled_event_id] = at(ce)
                if ce.HasField("activity_task_completed_event_attributes"):
                    sid = ce.activity_task_completed_event_attributes.scheduled_event_id
                    activity += at(ce) - started.get(sid, scheduled.get(sid, 0.0))
                    dispatch += started.get(sid, 0.0) - scheduled.get(sid, 0.0)
            start = initiated.get(attrs.initiated_event_id, 0.0)
            total = at(event) - start
            rows.append((execution.workflow_id, start, total, activity, dispatch))
    print(f"{'child':48} {'start':>7} {'total':>7} {'activity':>8} {'temporal':>8}")
    for wid, start, total, activity, _dispatch in rows:
        print(f"{wid[-48:]:48} {start:7.3f} {total:7.3f} {activity:8.3f} {total - activity:8.3f}")
    if rows:
        n = len(rows)
        tot = sum(r[2] for r in rows)
        act = sum(r[3] for r in rows)
        print(
            f"mean per workspace: total {tot / n:.3f}s, activity {act / n:.3f}s, "
            f"temporal {(tot - act) / n * 1000:.1f} ms (of which activity dispatch "
            f"{sum(r[4] for r in rows) / n * 1000:.1f} ms)"
        )
    print(f"parent: {len(events)} events, {at(events[-1]):.3f}s first to last event")


def main(argv: list[str]) -> int:
    commands: dict[str, Callable[[list[str]], int]] = {
        "phases": phases,
        "timeline": lambda a: asyncio.run(timeline(a[0], a[1])) or 0,
    }
    if not argv or argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
