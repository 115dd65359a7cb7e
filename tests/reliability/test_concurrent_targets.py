"""`tfo apply`, an MCP `execute_workflow` and a schedule trigger hit one workspace at once.

Three processes on one embedded server (`tfo daemon`, `tfo mcp`, `tfo apply`), real
terraform behind a shim that logs every plan and apply. terraform must run there one
command at a time, no run may report a lock error, and the drift state must end clean.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.integration.cli_helpers import Tfo
from tests.integration.drift_helpers import AlertReceiver, parent_runs, running_daemon
from tests.reliability.figures import record_figure
from tests.reliability.mcp_client import call, mcp_session, wait_done
from tests.reliability.processes import kill_all, max_overlap, processes_mentioning, shim_calls, wait_for, write_shim
from tests.reliability.stacks import counted
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import state_resources, write_stack

NAME = "contended"


async def test_cli_mcp_and_schedule_take_turns_on_one_workspace(tfo: Tfo, terraform, tmp_path: Path):
    root = tmp_path.resolve()
    calls = root / "terraform-calls.log"
    shim = write_shim(root / "terraform-shim", terraform.binary, calls, plan_delay=1)
    state = root / "state"
    counter = root / "creations.log"
    with AlertReceiver().serving() as hook:
        # Paused: it fires only when triggered (an hourly firing could land mid-test).
        top = {"name": NAME, "schedules": [{"name": "drift", "every": "1h", "paused": True}],
               "alerts": {"urls": [hook.url]}}
        config = write_stack(root / "stack", [W("target")], binary=shim, top=top)
        target = root / "stack" / "target"
        (target / "main.tf").write_text(counted("target", counter))
        first = tfo.run("apply", config, "--auto-approve", "--state-dir", state, idle=state)
        assert first.code == 0, first
        (target / "main.tf").write_text(counted("target", counter, sleep=4, trigger="v2"))
        try:
            with running_daemon(config, root, logs=root / "daemon", state_dir=state) as daemon:
                async with mcp_session(root, state, "--config-root", root, log=root / "mcp.log") as session:
                    began = time.time()
                    with tfo.background(
                        "apply", config, "--auto-approve", "--json", "--state-dir", state, logs=root / "apply"
                    ) as apply:
                        started, triggered = await asyncio.gather(
                            call(session, "execute_workflow", config_path="stack/infra.yaml"),
                            asyncio.to_thread(tfo.run, "schedules", "trigger", config, "drift", "--state-dir", state),
                        )
                        assert triggered.code == 0, triggered
                        mcp_status, mcp_text = await wait_done(session, started[0]["workflow_id"])
                        applied = await asyncio.to_thread(apply.finish)
                    scheduled = await asyncio.to_thread(
                        wait_for, "the scheduled check to end", lambda: _closed_scheduled(state)
                    )
                    elapsed = time.time() - began
                    report = await asyncio.to_thread(_settled_drift, tfo, config, state)
                assert daemon.proc.poll() is None, daemon.stderr()
        finally:
            kill_all(processes_mentioning(str(root / "stack")))
        alerts = hook.titles()

    record_figure("concurrent apply + MCP plan + scheduled check: seconds until all ended", elapsed)
    assert applied.code == 0, applied
    doc = applied.json()
    assert doc["status"] == "succeeded" and doc["workspaces"]["target"]["error"] is None, doc
    assert mcp_status["status"] == "succeeded", mcp_text
    assert mcp_status["workspaces"]["target"]["error"] is None, mcp_text
    scheduled_run = tfo.run("status", scheduled, "--json", "--state-dir", state)
    assert scheduled_run.code in (0, 2), scheduled_run
    assert scheduled_run.json()["status"] == "succeeded", scheduled_run
    assert scheduled_run.json()["workspaces"]["target"]["error"] is None
    # Waiting for another run's lock is expected ("waiting for lock held by run X");
    # terraform's own lock error, or a workspace failed on a lock, is not.
    for text in (applied.stdout, applied.stderr, mcp_text, scheduled_run.stdout):
        for error in ("Error acquiring the state lock", "state is locked", "StateLocked", "WorkspaceLocked"):
            assert error not in text, text

    # terraform ran in the workspace one command at a time, for all three runs.
    mine = [c for c in shim_calls(calls) if c[1] >= began and c[5] == str(target)]
    plans = [c for c in mine if c[0] == "start" and c[3] == "plan"]
    assert len(plans) >= 3, mine  # the apply's, the agent's and the schedule's
    assert max_overlap(calls, cwd=str(target)) == 1
    assert counter.read_text().splitlines() == ["created", "created"]  # v1, then v2 once
    assert state_resources(target) == ["null_resource.target"]

    # No false drift: no check failed, and the state the ledger settled on is clean.
    target_drift = report["workspaces"]["target"]
    assert target_drift["status"] == "clean", report
    assert f"Drift check failed: {NAME}/target" not in alerts, alerts
    assert not alerts or alerts[-1] != f"Drift detected: {NAME}/target", alerts


def _closed_scheduled(state: Path) -> str | None:
    found = {k: v for k, v in parent_runs(state).items() if k.startswith(f"tfo-plan-{NAME}-drift-")}
    assert len(found) <= 1, found
    return next((k for k, v in found.items() if v == "COMPLETED"), None)


def _settled_drift(tfo: Tfo, config: Path, state: Path) -> dict:  # type: ignore[type-arg]
    """The drift report once every recorded run is folded in and no alert is pending."""
    previous: dict = {}  # type: ignore[type-arg]

    def settled() -> dict | None:  # type: ignore[type-arg]
        nonlocal previous
        result = tfo.run("drift", config, "--json", "--state-dir", state)
        assert result.code == 0, result
        doc = result.json()
        for ws in doc["workspaces"].values():
            ws.pop("age_seconds")
        stable = doc == previous and doc["alerts_pending"] == 0
        previous = doc
        return doc if stable else None

    return wait_for("the drift ledger to settle", settled, every=1.0)
