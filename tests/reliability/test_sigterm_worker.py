"""SIGTERM to a `tfo worker` in the middle of an apply (a rolling restart, a pod eviction).

The worker must stop gracefully: terraform gets SIGINT, saves its state and releases
its lock, and nothing of it is left running. The run then resumes on another worker
by planning again within what was approved; the interrupted plan is never applied again.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time

from temporalio.client import WorkflowExecutionStatus

from tests.reliability.figures import record_figure
from tests.reliability.processes import (
    GIVE_UP,
    kill_all,
    processes_mentioning,
    shim_calls,
    start_worker,
    started,
    write_shim,
)
from tests.reliability.stacks import counted
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import state_resources, write_stack
from tfo.config.loader import load_config
from tfo.config.payloads import RunReport, RunStatus, WorkspaceStatus
from tfo.daemon import runs


async def test_sigterm_mid_apply_interrupts_terraform_then_the_run_resumes(
    temporal_env, terraform, tmp_path, task_queue
):
    stack = tmp_path / "stack"
    calls = tmp_path / "terraform-calls.log"
    shim = write_shim(tmp_path / "terraform-shim", terraform.binary, calls)
    config = write_stack(
        stack, [W("slow"), W("after", depends_on=["slow"])], binary=shim, top={"task_queue": task_queue}
    )
    counter = tmp_path / "creations.log"
    (stack / "slow" / "main.tf").write_text(counted("slow", counter, sleep=30, first_only=True))
    client = temporal_env.client
    address = client.service_client.config.target_host
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(terraform.cli_config)}
    request = runs.build_request(
        load_config(config), mode="apply", workspaces=[], state_dir=stack / ".tfo", auto_approve=True
    )
    try:
        with started(start_worker(address, task_queue, "term-w1", tmp_path / "w1.log", env)) as workers:
            run_id = await runs.start_run(client, request)
            handle = client.get_workflow_handle(run_id, result_type=RunReport)
            log = stack / ".tfo" / "runs" / run_id / "slow" / "apply.log"
            deadline = time.monotonic() + GIVE_UP
            # Inside the create: the provisioner has started and written its line (on a busy
            # host terraform may log the provisioner well before its shell runs).
            while not (log.exists() and "Provisioning with 'local-exec'" in log.read_text() and counter.exists()):
                assert workers[0].poll() is None, (tmp_path / "w1.log").read_text()
                assert time.monotonic() < deadline, "the slow apply never started"
                await asyncio.sleep(0.05)
            interrupted_log_text = ""

            os.kill(workers[0].pid, signal.SIGTERM)
            began = time.monotonic()
            code = await asyncio.to_thread(workers[0].wait, GIVE_UP)
            record_figure("SIGTERM worker mid-apply: seconds until the worker exited", time.monotonic() - began)
            interrupted_log_text = log.read_text()

            # Stopped gracefully: exit 0, terraform interrupted, nothing of it left running.
            assert code == 0, (tmp_path / "w1.log").read_text()
            assert "Interrupt received" in interrupted_log_text, interrupted_log_text
            assert processes_mentioning(str(stack)) == {}
            # Its state was saved and its lock released: a plan that may not wait for a lock runs.
            state = json.loads((stack / "slow" / "terraform.tfstate").read_text())
            assert state["resources"], "the interrupted create was not recorded in state"
            assert not (stack / "slow" / ".terraform.tfstate.lock.info").exists()
            probe = subprocess.run(
                [terraform.binary, "plan", "-lock-timeout=0s", "-input=false", "-no-color"],
                cwd=stack / "slow",
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            assert probe.returncode == 0, probe.stderr
            desc = await handle.describe()
            assert desc.status == WorkflowExecutionStatus.RUNNING  # not ended, not lost

            resumed_at = time.monotonic()
            workers.append(start_worker(address, task_queue, "term-w2", tmp_path / "w2.log", env))
            report = await asyncio.wait_for(handle.result(), GIVE_UP)
            record_figure(
                "SIGTERM worker mid-apply: seconds from the new worker to the run's end", time.monotonic() - resumed_at
            )
    finally:
        kill_all(processes_mentioning(str(stack)))

    slow, after = report.workspaces["slow"], report.workspaces["after"]
    assert report.status == RunStatus.SUCCEEDED, report.public_json()
    # Resumed by planning again (replacing the object the interrupted create left tainted).
    assert slow.status == WorkspaceStatus.SUCCEEDED and slow.outcome == "applied", slow
    assert slow.replanned is True
    assert slow.worker == "term-w2"
    assert after.status == WorkspaceStatus.SUCCEEDED and after.outcome == "applied"
    assert state_resources(stack / "slow") == ["null_resource.slow"]
    assert counter.read_text().splitlines() == ["created", "created"]  # the interrupted one, the new one
    # Every apply was of a different plan: the interrupted plan was never applied again.
    applied = [
        extra for kind, _t, _p, command, extra, _cwd in shim_calls(calls) if kind == "start" and command == "apply"
    ]
    assert len(applied) == 3 and len(set(applied)) == 3, applied  # slow twice (two plans), after once
    assert not (stack / ".tfo" / "runs" / run_id).exists()
