"""Transient failures are retried until they clear; permanent ones are not retried.

Real terraform and the real Temporal dev server, with tfo's workers in-process.
"""

from __future__ import annotations

import time

from tests.integration.engine import run_stack
from tests.reliability.figures import record_figure
from tests.reliability.history import phase_attempts
from tests.reliability.processes import lock_holder
from tests.reliability.stacks import counted, fails_once
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import state_resources, write_stack
from tfo.config.payloads import RunStatus, WorkspaceStatus


async def phase_attempts_of(client, run_id: str, name: str) -> list[dict[str, list[int]]]:  # type: ignore[no-untyped-def]
    """Activity attempts of each phase of one workspace (run inline by the run), oldest first."""
    history = await client.get_workflow_handle(run_id).fetch_history()
    return phase_attempts(history, name)


async def test_transient_apply_failure_is_replanned_and_succeeds(temporal_env, terraform, tmp_path, task_queue):
    stack = tmp_path / "stack"
    config = write_stack(
        stack, [W("flaky", outputs={"done": '"yes"'})], binary=terraform.binary, top={"task_queue": task_queue}
    )
    attempts_log = tmp_path / "attempts.log"
    (stack / "flaky" / "main.tf").write_text(
        fails_once("flaky", tmp_path / "failed-once", attempts_log) + 'output "done" {\n  value = "yes"\n}\n'
    )
    began = time.monotonic()
    report = await run_stack(temporal_env.client, config, mode="apply")
    record_figure("transient apply failure: seconds to success", time.monotonic() - began)

    flaky = report.workspaces["flaky"]
    assert report.status == RunStatus.SUCCEEDED, flaky
    assert flaky.status == WorkspaceStatus.SUCCEEDED and flaky.outcome == "applied"
    assert flaky.replanned is True
    assert flaky.outputs == {"done": "yes"}
    # The failed create left a tainted object; the re-plan replaced it: one object in the end.
    assert attempts_log.read_text().splitlines() == ["attempt", "attempt"]
    assert state_resources(stack / "flaky") == ["null_resource.flaky"]
    # The failed saved plan was never applied again: a fresh plan, then one apply of it.
    (phase_plan, phase_apply) = await phase_attempts_of(temporal_env.client, report.run_id, "flaky")
    assert phase_plan == {"plan_workspace": [1]}
    assert phase_apply == {"apply_workspace": [1, 1], "plan_workspace": [1]}


async def test_held_state_lock_is_waited_out_with_backoff(temporal_env, terraform, tmp_path, task_queue):
    stack = tmp_path / "stack"
    # lock_timeout 0s: terraform fails at once on a held lock, so tfo's own retry waits it out.
    config = write_stack(
        stack, [W("locked")], binary=terraform.binary, settings={"lock_timeout": "0s"}, top={"task_queue": task_queue}
    )
    counter = tmp_path / "creations.log"
    (stack / "locked" / "main.tf").write_text(counted("locked", counter))
    first = await run_stack(temporal_env.client, config, mode="apply")
    assert first.status == RunStatus.SUCCEEDED, first.public_json()
    (stack / "locked" / "main.tf").write_text(counted("locked", counter, trigger="v2"))

    with lock_holder(stack / "locked" / "terraform.tfstate", 5.0):
        began = time.monotonic()
        report = await run_stack(temporal_env.client, config, mode="apply")
    record_figure("held state lock: seconds until the run succeeded", time.monotonic() - began)

    locked = report.workspaces["locked"]
    assert report.status == RunStatus.SUCCEEDED, report.public_json()
    assert locked.outcome == "applied" and locked.error is None
    assert counter.read_text().splitlines() == ["created", "created"]  # v1, then the v2 replacement
    plan_phase, apply_phase = await phase_attempts_of(temporal_env.client, report.run_id, "locked")
    # History keeps one started event per activity, with the attempt that finished it.
    (plan_attempt,) = plan_phase["plan_workspace"]
    assert plan_attempt >= 2, plan_phase  # retried, with backoff, while the lock was held
    assert apply_phase == {"apply_workspace": [1]}
    record_figure("held state lock: plan attempts", plan_attempt)


async def test_permanent_failure_is_not_retried(temporal_env, terraform, tmp_path, task_queue):
    config = write_stack(
        tmp_path / "stack", [W("broken", broken=True)], binary=terraform.binary, top={"task_queue": task_queue}
    )
    report = await run_stack(temporal_env.client, config, mode="apply")
    broken = report.workspaces["broken"]
    assert report.status == RunStatus.FAILED
    assert broken.status == WorkspaceStatus.FAILED
    assert broken.error_type == "TerraformInvalid", broken
    assert "main.tf line" in (broken.error or ""), broken.error
    (attempts,) = await phase_attempts_of(temporal_env.client, report.run_id, "broken")
    assert attempts == {"plan_workspace": [1]}
