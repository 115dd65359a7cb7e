"""Stale plans: a saved plan is never applied over a state that changed after it was made.

terraform itself refuses a stale plan only when the plan was made against an
existing state; a plan made against an empty state applies a second time and leaks
the first objects (terraform#24078). tfo must refuse both.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tests.integration.cli_helpers import Tfo, assert_nothing_running
from tests.reliability.processes import file_sha256, shim_calls, write_shim
from tests.reliability.stacks import counted
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import state_resources, write_stack
from tfo.activities.runner import TerraformRunner
from tfo.activities.terraform import TerraformActivities
from tfo.config.errors import ErrorType
from tfo.config.loader import load_config, snapshot
from tfo.config.payloads import ApplyRequest, ApplyResult, PlanRequest, PlanResult, WorkspaceSpec


class Workspace:
    """One real workspace driven through tfo's activities, outside any workflow."""

    def __init__(self, root: Path, binary: str) -> None:
        config = write_stack(root, [W("solo")], binary=binary)
        self.counter = root / "creations.log"
        self.dir = root / "solo"
        (self.dir / "main.tf").write_text(counted("solo", self.counter))
        self.state_dir = root / ".tfo"
        snap = snapshot(load_config(config), state_dir=self.state_dir)
        self.spec: WorkspaceSpec = snap.workspace("solo")
        self.settings = snap.settings
        self.activities = TerraformActivities(TerraformRunner(), worker_id="test")

    async def plan(self, run_id: str) -> PlanResult:
        request = PlanRequest(
            run_id=run_id, state_dir=str(self.state_dir), workspace=self.spec, settings=self.settings, keep_plan=True
        )
        result: PlanResult = await ActivityEnvironment().run(self.activities.plan_workspace, request)
        return result

    def request(self, run_id: str, plan: PlanResult) -> ApplyRequest:
        assert plan.plan_file is not None and plan.plan_sha256 is not None
        return ApplyRequest(
            run_id=run_id,
            state_dir=str(self.state_dir),
            workspace=self.spec,
            plan_file=plan.plan_file,
            plan_sha256=plan.plan_sha256,
            settings=self.settings,
        )

    async def apply(self, request: ApplyRequest) -> ApplyResult:
        result: ApplyResult = await ActivityEnvironment().run(self.activities.apply_workspace, request)
        return result

    async def refused(self, request: ApplyRequest) -> ApplicationError:
        with pytest.raises(ApplicationError) as info:
            await self.apply(request)
        assert info.value.non_retryable
        return info.value

    def copy_plan(self, plan: PlanResult, run_id: str) -> PlanResult:
        """The same saved plan, byte for byte, in another run's directory."""
        assert plan.plan_file is not None
        target = self.state_dir / "runs" / run_id / "solo" / "plan.tfplan"
        target.parent.mkdir(parents=True)
        shutil.copy(self.state_dir / plan.plan_file, target)
        return plan.model_copy(update={"plan_file": str(target.relative_to(self.state_dir))})

    def ids(self) -> list[str]:
        state = json.loads((self.dir / "terraform.tfstate").read_text())
        return [i["attributes"]["id"] for r in state["resources"] for i in r["instances"]]


async def test_same_plan_is_never_applied_twice_even_against_empty_state(terraform, tmp_path):
    ws = Workspace(tmp_path / "stack", terraform.binary)
    plan = await ws.plan("run-1")  # against no state at all
    copy = ws.copy_plan(plan, "run-2")
    bare = tmp_path / "bare-copy.tfplan"
    shutil.copy(ws.state_dir / str(plan.plan_file), bare)

    await ws.apply(ws.request("run-1", plan))
    first_ids = ws.ids()
    assert ws.counter.read_text().splitlines() == ["created"]

    # The same activity again (a retry after a worker died before reporting): it reports
    # the apply that happened and applies nothing.
    again = await ws.apply(ws.request("run-1", plan))
    assert again.resumed is True
    assert ws.ids() == first_ids and ws.counter.read_text().splitlines() == ["created"]
    # The same plan, byte for byte, applied by another run: refused as stale.
    stale = await ws.refused(ws.request("run-2", copy))
    assert stale.type == ErrorType.STALE_PLAN
    assert "stale" in stale.message
    assert ws.ids() == first_ids and ws.counter.read_text().splitlines() == ["created"]

    # The gap tfo closes: terraform alone applies the same empty-state plan again,
    # creating a second object and forgetting the first one.
    control = subprocess.run(
        [terraform.binary, "apply", "-input=false", "-no-color", str(bare)],
        cwd=ws.dir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert control.returncode == 0, control.stderr
    assert ws.counter.read_text().splitlines() == ["created", "created"]
    # Two objects created, one in state: the first is leaked. (Not compared by id: the
    # null provider's ids come from an unseeded random source and can repeat.)
    assert len(ws.ids()) == 1


async def test_plan_made_before_an_out_of_band_apply_is_refused(terraform, tmp_path):
    ws = Workspace(tmp_path / "stack", terraform.binary)
    await ws.apply(ws.request("run-0", await ws.plan("run-0")))
    (ws.dir / "main.tf").write_text(counted("solo", ws.counter, trigger="v2"))
    plan = await ws.plan("run-1")
    # Someone else applies to the workspace in between.
    subprocess.run(
        [terraform.binary, "apply", "-auto-approve", "-input=false", "-no-color"],
        cwd=ws.dir,
        capture_output=True,
        check=True,
    )
    ids = ws.ids()
    stale = await ws.refused(ws.request("run-1", plan))
    assert stale.type == ErrorType.STALE_PLAN
    assert ws.ids() == ids
    assert ws.counter.read_text().splitlines() == ["created", "created"]


def test_approved_plan_gone_stale_at_the_gate_is_replanned_not_applied(tfo: Tfo, terraform, tmp_path: Path):
    root = tmp_path.resolve()
    calls = root / "terraform-calls.log"
    shim = write_shim(root / "terraform-shim", terraform.binary, calls)
    config = write_stack(root / "stack", [W("app")], binary=shim)
    app = root / "stack" / "app"
    counter = root / "creations.log"
    (app / "main.tf").write_text(counted("app", counter))
    state = root / "state"
    first = tfo.run("apply", config, "--auto-approve", "--state-dir", state, idle=state)
    assert first.code == 0, first

    (app / "main.tf").write_text(counted("app", counter, trigger="v2"))
    with tfo.background("apply", config, "--json", "--state-dir", state, logs=root / "apply") as apply:
        run_id = apply.wait_for_approval()
        plan_a = file_sha256(state / "runs" / run_id / "app" / "plan.tfplan")
        # While plan A waits for approval, another process applies v2 to the workspace.
        subprocess.run(
            [terraform.binary, "apply", "-auto-approve", "-input=false", "-no-color"],
            cwd=app,
            capture_output=True,
            check=True,
        )
        ids = state_resources(app)
        approved = tfo.run("approve", run_id)
        assert approved.code == 0, approved
        result = apply.finish()
    assert_nothing_running(state)

    assert result.code == 0, result
    doc = result.json()
    assert doc["status"] == "succeeded", doc
    assert doc["workspaces"]["app"]["error"] is None
    # A was refused as stale and re-planned: nothing left to do, nothing created twice.
    assert counter.read_text().splitlines() == ["created", "created"]  # v1 by tfo, v2 by the other process
    assert state_resources(app) == ids
    applied = [
        extra for kind, _t, _p, command, extra, _cwd in shim_calls(calls) if kind == "start" and command == "apply"
    ]
    assert plan_a not in applied
    assert len(applied) == 1  # only the first run's apply
    status = tfo.run("status", run_id, "--json", idle=state)
    assert status.code == 0, status


async def test_retry_after_a_worker_died_before_its_apply_started_applies_once(terraform, tmp_path):
    """A worker killed between writing apply.started and spawning the sentinel: no
    terraform ran, so the retry must apply the plan itself (once), not wait for an
    exit code that will never come."""
    ws = Workspace(tmp_path / "stack", terraform.binary)
    plan = await ws.plan("run-1")
    request = ws.request("run-1", plan)
    started = ws.state_dir / str(plan.plan_file).replace("plan.tfplan", "apply.started")
    started.write_text(json.dumps({"plan_sha256": plan.plan_sha256, "attempt": 1, "worker": "dead"}))
    long_ago = started.stat().st_mtime - 120  # past the sentinel's start grace
    os.utime(started, (long_ago, long_ago))

    result = await ws.apply(request)

    assert result.resumed is False
    assert ws.counter.read_text().splitlines() == ["created"]
    assert len(ws.ids()) == 1
    # And a retry of that attempt reports it without applying again.
    again = await ws.apply(request)
    assert again.resumed is True and ws.counter.read_text().splitlines() == ["created"]


class HeldRunner(TerraformRunner):
    """Holds one attempt's `plan` until another attempt has ended, cleanup and all."""

    def __init__(self, other_done: asyncio.Event) -> None:
        super().__init__()
        self.other_done = other_done

    async def run(self, binary, args, **kwargs):  # type: ignore[no-untyped-def, override]
        if args[0] == "plan":
            await self.other_done.wait()
        return await super().run(binary, args, **kwargs)


async def test_a_timed_out_attempt_ending_beside_its_retry_leaves_the_retry_its_files(terraform, tmp_path):
    """A starved worker misses heartbeats: Temporal retries the plan while the first
    attempt is still being stopped. The first attempt's clean-up must not delete the
    var file or the plan that the retry is about to use (seen at 10,000 workspaces)."""
    ws = Workspace(tmp_path / "stack", terraform.binary)
    await ws.plan("warm-up")  # init and validate done: both attempts below go straight to plan
    first_done = asyncio.Event()
    retry_side = TerraformActivities(HeldRunner(first_done), worker_id="test")
    request = PlanRequest(
        run_id="run-1", state_dir=str(ws.state_dir), workspace=ws.spec, settings=ws.settings, keep_plan=True
    )

    async def attempt(number: int, activities: TerraformActivities) -> PlanResult:
        info = dataclasses.replace(ActivityEnvironment().info, attempt=number)
        env = ActivityEnvironment()
        env.info = info
        result: PlanResult = await env.run(activities.plan_workspace, request)
        return result

    retry = asyncio.create_task(attempt(2, retry_side))
    await asyncio.sleep(0.5)  # the retry has written its var file and waits to plan
    first = await attempt(1, ws.activities)
    first_done.set()
    second = await retry
    assert first.plan_file == second.plan_file == "runs/run-1/solo/plan.tfplan"
    assert file_sha256(ws.state_dir / second.plan_file) == second.plan_sha256
    assert sorted(p.name for p in (ws.state_dir / "runs" / "run-1" / "solo").iterdir()) == ["plan.tfplan"]
