"""`tfo cancel` semantics: running terraform gets SIGINT, state is left unlocked."""

from __future__ import annotations

import asyncio
import subprocess

from tests.conftest import running_workers
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import write_stack
from tfo.config.loader import load_config
from tfo.config.payloads import RunReport, RunStatus, WorkspaceStatus
from tfo.daemon import runs


async def test_cancel_interrupts_terraform_and_leaves_state_unlocked(temporal_env, terraform, tmp_path, task_queue):
    config = write_stack(
        tmp_path,
        [W("slow", sleep=60), W("after", depends_on=["slow"])],
        binary=terraform.binary,
        top={"task_queue": task_queue},
    )
    client = temporal_env.client
    request = runs.build_request(
        load_config(config), mode="apply", workspaces=[], state_dir=tmp_path / ".tfo", auto_approve=True
    )
    async with running_workers(client, task_queue):
        run_id = await runs.start_run(client, request)
        handle = client.get_workflow_handle(run_id, result_type=RunReport)
        for _ in range(600):
            live = await handle.query("status", result_type=RunReport)
            if live and live.workspaces["slow"].operation == "apply":
                break
            await asyncio.sleep(0.1)
        log = tmp_path / ".tfo" / "runs" / run_id / "slow" / "apply.log"
        for _ in range(300):
            if log.exists() and "Provisioning with 'local-exec'" in log.read_text():
                break
            await asyncio.sleep(0.1)
        await handle.cancel()
        report = await handle.result()

    assert report.status == RunStatus.CANCELLED
    assert report.workspaces["slow"].status == WorkspaceStatus.CANCELLED
    assert report.workspaces["after"].status in (WorkspaceStatus.CANCELLED, WorkspaceStatus.SKIPPED)
    assert not (tmp_path / "after" / "terraform.tfstate").exists()
    # No terraform (or its sleep) is left running for this stack.
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert leftovers == []
    # terraform saved its state and released the lock: a plan with no lock wait works.
    plan = subprocess.run(
        [terraform.binary, "plan", "-lock-timeout=0s", "-input=false", "-no-color"],
        cwd=tmp_path / "slow",
        capture_output=True,
        text=True,
    )
    assert plan.returncode == 0, plan.stderr
    assert "state lock" not in plan.stderr
