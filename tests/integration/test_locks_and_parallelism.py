"""Workspace locks between concurrent runs, and the parallelism limit, measured on real terraform."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.conftest import running_workers
from tests.reliability.processes import allow_binary
from tests.stacks import PROVIDER, state_resources, write_stack
from tests.stacks import WorkspaceTemplate as W
from tfo.config.loader import load_config
from tfo.config.payloads import RunReport, RunRequest, RunStatus, WorkspaceStatus
from tfo.daemon import runs

# A guard against hanging forever if something is broken; never a pass/fail criterion.
GIVE_UP = 180.0

Seen = list[tuple[str, str, WorkspaceStatus, str | None]]


def counted_main_tf(name: str, counter: Path, sleep: float = 0) -> str:
    """One null_resource whose create appends a line to `counter` (then sleeps)."""
    return (
        PROVIDER
        + f'\nresource "null_resource" "{name}" {{\n'
        + '  triggers = {\n    trigger = "v1"\n  }\n'
        + '  provisioner "local-exec" {\n'
        + f'    command = "echo created >> {counter} && sleep {sleep}"\n'
        + "  }\n}\n"
    )


async def watch(
    client,  # type: ignore[no-untyped-def]
    run_ids: list[str],
    seen: Seen,
    on_status: Callable[[str, RunReport], list[str]] | None = None,
) -> dict[str, RunReport]:
    """Poll runs' status queries until all end, recording each distinct (run, workspace, status, detail).

    `on_status` may return more run IDs to follow.
    """
    pending = list(run_ids)
    results: dict[str, asyncio.Future[RunReport]] = {}
    deadline = time.monotonic() + GIVE_UP
    try:
        while pending or not all(t.done() for t in results.values()):
            for run_id in pending:
                handle = client.get_workflow_handle(run_id, result_type=RunReport)
                results[run_id] = asyncio.ensure_future(handle.result())
            pending = []
            assert time.monotonic() < deadline, "runs did not finish"
            for run_id, result in list(results.items()):
                if result.done():
                    continue
                live = await client.get_workflow_handle(run_id).query("status", result_type=RunReport)
                if live is None:
                    continue
                for name, ws in live.workspaces.items():
                    entry = (run_id, name, ws.status, ws.detail)
                    if entry not in seen:
                        seen.append(entry)
                if on_status:
                    pending += on_status(run_id, live)
            await asyncio.sleep(0.05)
        return {r: t.result() for r, t in results.items()}
    finally:
        for task in results.values():
            task.cancel()


async def test_concurrent_applies_on_overlapping_workspaces_take_turns(temporal_env, terraform, tmp_path, task_queue):
    config = write_stack(
        tmp_path,
        [W("a"), W("b", depends_on=["a"]), W("c", depends_on=["a"])],
        binary=terraform.binary,
        top={"task_queue": task_queue},
    )
    for name, sleep in (("a", 0), ("b", 3), ("c", 0)):
        (tmp_path / name / "main.tf").write_text(counted_main_tf(name, tmp_path / f"{name}-creations.log", sleep))
    # A second config over the same directory of b: same lock, no dependencies.
    document = yaml.safe_load(config.read_text())
    document["workspaces"] = [{**ws, "dependsOn": []} for ws in document["workspaces"] if ws["name"] == "b"]
    only_b = tmp_path / "only-b.yaml"
    only_b.write_text(yaml.safe_dump(document, sort_keys=False))

    client = temporal_env.client
    state_dir = tmp_path / ".tfo"

    def request(path: Path, workspaces: list[str], **options: bool) -> RunRequest:
        return runs.build_request(load_config(path), workspaces=workspaces, state_dir=state_dir, **options)  # type: ignore[arg-type]

    no_wait_run: list[str] = []
    starting: list[asyncio.Task[str]] = []

    def start_no_wait_while_b_applies(run_id: str, live: RunReport) -> list[str]:
        b = live.workspaces.get("b")
        if not starting and b is not None and b.status == WorkspaceStatus.RUNNING and b.operation == "apply":
            no_wait = request(only_b, [], mode="plan", no_wait=True)
            starting.append(asyncio.ensure_future(runs.start_run(client, no_wait)))
        if starting and starting[0].done() and not no_wait_run:
            no_wait_run.append(starting[0].result())
            return no_wait_run[:]
        return []

    seen: Seen = []
    async with running_workers(client, task_queue):
        run1, run2 = await asyncio.gather(
            runs.start_run(client, request(config, ["b"], mode="apply", auto_approve=True)),
            runs.start_run(client, request(config, ["c"], mode="apply", auto_approve=True)),
        )
        reports = await watch(client, [run1, run2], seen, start_no_wait_while_b_applies)

    first, second = reports[run1], reports[run2]
    assert first.status == RunStatus.SUCCEEDED, first.public_json()
    assert second.status == RunStatus.SUCCEEDED, second.public_json()
    assert set(first.workspaces) == {"a", "b"} and set(second.workspaces) == {"a", "c"}
    for report in (first, second):
        for ws in report.workspaces.values():
            assert ws.status == WorkspaceStatus.SUCCEEDED
            assert "lock" not in (ws.error or "").lower()

    # One run found a held by the other and waited for it, saying by whom.
    holders = {
        (run_id, m.group(1))
        for run_id, name, status, detail in seen
        if name == "a" and status == WorkspaceStatus.WAITING
        and (m := re.fullmatch(r"waiting for lock held by run (tfo-\S+)", detail or ""))
    }
    assert holders & {(run1, run2), (run2, run1)}, seen

    # Taking turns never made terraform create anything twice: one run applied a; the
    # other found it done (re-planning if its saved plan had gone stale meanwhile).
    a_outcomes = sorted((r.workspaces["a"].outcome or "", r.workspaces["a"].replanned) for r in (first, second))
    assert [outcome for outcome, _ in a_outcomes] == ["applied", "no_changes"], a_outcomes
    for name in ("a", "b", "c"):
        assert (tmp_path / f"{name}-creations.log").read_text().splitlines() == ["created"], name
        assert state_resources(tmp_path / name) == [f"null_resource.{name}"]

    # A --no-wait run that met b's lock failed that workspace at once, naming the holder.
    assert len(no_wait_run) == 1
    locked = reports[no_wait_run[0]]
    assert locked.status == RunStatus.FAILED
    assert locked.workspaces["b"].status == WorkspaceStatus.FAILED
    assert locked.workspaces["b"].error_type == "WorkspaceLocked"
    assert locked.workspaces["b"].error == f"workspace is locked by run {run1}"


SHIM = """#!/bin/sh
# Logs when plan and apply start and end, then runs the real terraform.
case "$1" in
  plan|apply)
    echo "start $(date +%s.%N) $$ $1" >> {log}
    {real} "$@"
    rc=$?
    echo "end $(date +%s.%N) $$ $1" >> {log}
    exit $rc
    ;;
esac
exec {real} "$@"
"""


def write_shim(path: Path, real: str, log: Path) -> str:
    path.write_text(SHIM.format(real=real, log=log))
    path.chmod(0o755)
    allow_binary(path)  # workers run only binaries their operator allowed
    return str(path)


def max_overlap(log: Path) -> tuple[int, int]:
    """The most plan/apply processes alive at once, and how many ran in all."""
    events = []
    for line in log.read_text().splitlines():
        kind, stamp, _pid, _command = line.split()
        # At equal times count the end first, so that the maximum is never inflated.
        events.append((float(stamp), 0 if kind == "end" else 1))
    running = peak = 0
    for _stamp, starts in sorted(events):
        running += 1 if starts else -1
        peak = max(peak, running)
    assert running == 0, "a command never ended"
    return peak, sum(starts for _, starts in events)


async def test_parallelism_bounds_concurrent_terraform_processes(temporal_env, terraform, tmp_path, task_queue):
    log = tmp_path / "terraform-calls.log"
    shim = write_shim(tmp_path / "terraform-shim", terraform.binary, log)
    names = [f"ws{i}" for i in range(6)]
    config = write_stack(
        tmp_path / "stack",
        [W(name, sleep=2) for name in names],
        binary=shim,
        top={"task_queue": task_queue},
    )
    client = temporal_env.client
    request = runs.build_request(
        load_config(config), mode="apply", workspaces=[], state_dir=config.parent / ".tfo",
        parallelism=2, auto_approve=True,
    )
    async with running_workers(client, task_queue):
        run_id = await runs.start_run(client, request)
        report = await asyncio.wait_for(client.get_workflow_handle(run_id, result_type=RunReport).result(), GIVE_UP)

    assert report.status == RunStatus.SUCCEEDED, report.public_json()
    assert all(ws.outcome == "applied" for ws in report.workspaces.values())
    for name in names:
        assert state_resources(config.parent / name) == [f"null_resource.{name}"]
    peak, commands = max_overlap(log)
    assert commands == 12  # one plan and one apply per workspace, all through the shim
    assert peak <= 2
    assert peak >= 2
