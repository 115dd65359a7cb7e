"""The one list of workflows and activities, and building workers for task queues."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tfo.activities.alerts import AlertActivities, DriftRecordActivities
from tfo.activities.config_pages import ConfigPageActivities
from tfo.activities.locks import LockActivities
from tfo.activities.queues import QueueActivities
from tfo.activities.remediation import RemediationActivities
from tfo.activities.run_files import RunFilesActivities
from tfo.activities.runner import TerraformRunner
from tfo.activities.terraform import TerraformActivities
from tfo.activities.workspace_local import LocalWorkspaces
from tfo.daemon import memory
from tfo.workflows.drift_ledger import DriftLedgerWorkflow
from tfo.workflows.parent import ParentWorkflow
from tfo.workflows.segment import RunSegmentWorkflow
from tfo.workflows.terraform_workflow import TerraformWorkflow

WORKFLOWS = [ParentWorkflow, RunSegmentWorkflow, TerraformWorkflow, DriftLedgerWorkflow]


def worker_identity(label: str = "") -> str:
    base = f"{os.getpid()}@{socket.gethostname()}"
    return f"{label}:{base}" if label else base


def build_id() -> str:
    """The build ID workers report: tfo's version.

    Without one, the SDK derives it by hashing the bytecode of every loaded module,
    which takes 0.2-1 s at each worker start (BENCHMARKS.md). tfo does not use
    worker versioning, so the ID only labels the workers.
    """
    from tfo import UNKNOWN_VERSION, __version__

    return "tfo-dev" if __version__ == UNKNOWN_VERSION else f"tfo-{__version__}"


def build_workers(
    client: Client,
    *,
    default_queue: str,
    activity_queues: Sequence[str] = (),
    serve_default: bool = True,
    identity: str | None = None,
    runner: TerraformRunner | None = None,
    max_concurrent_activities: int = 32,
    work_dir: Path | None = None,
) -> list[Worker]:
    """Workers for the default queue (workflows and activities) and for extra activity queues.

    Args:
        default_queue: The workflow queue: tfo's workflows, their local activities and
            the terraform of workspaces that name no other queue.
        activity_queues: More queues on which to run terraform (activities only).
        serve_default: False to serve only `activity_queues`, so that a worker holding
            one account's credentials never runs another queue's terraform.
        work_dir: This worker's own dir for checkouts and run files (no shared volume).
            It then also serves a queue of its own, where applies of its plans go first.
    """
    if not serve_default and not activity_queues:
        raise ValueError("a worker needs at least one queue to serve")
    memory.keep_lean()  # a worker's payloads would otherwise leave its heap fragmented
    identity = identity or worker_identity()
    version = build_id()
    own_queue = f"tfo-worker-{uuid.uuid4().hex[:12]}" if work_dir is not None else ""
    local = LocalWorkspaces(work_dir)
    terraform = TerraformActivities(
        runner or TerraformRunner(), worker_id=identity, local=local, worker_queue=own_queue
    )
    files = RunFilesActivities(local)
    locks = LockActivities(client)
    terraform_activities: list[Callable[..., Any]] = [
        terraform.plan_workspace,
        terraform.apply_workspace,
        files.cleanup_run,
    ]
    workers: list[Worker] = []
    remediation = RemediationActivities(client)
    recorder = DriftRecordActivities(client, task_queue=default_queue)
    if serve_default:
        workers.append(
            Worker(
                client,
                task_queue=default_queue,
                workflows=WORKFLOWS,
                # The sandbox re-imports workflow modules for every workflow run: ~10 ms
                # of CPU per workspace and ~0.3-1 s to build the worker (BENCHMARKS.md).
                # tfo's workflow code is kept deterministic by review and by the replay
                # tests, which still run it in the sandbox (Replayer's default runner).
                workflow_runner=UnsandboxedWorkflowRunner(),
                activities=[
                    *terraform_activities,
                    locks.describe_lock_holder,
                    QueueActivities(client).queue_has_pollers,
                    AlertActivities().send_alert,
                    recorder.record_run,
                    recorder.record_runs,
                    remediation.propose_remediation,
                    remediation.cancel_remediation,
                    terraform.resolve_source,
                    files.delete_plans,
                    ConfigPageActivities().load_config_page,
                ],
                identity=identity,
                build_id=version,
                max_concurrent_activities=max_concurrent_activities,
            )
        )
    own = [own_queue] if own_queue else []
    for queue in [*sorted(set(activity_queues) - ({default_queue} if serve_default else set())), *own]:
        workers.append(
            Worker(
                client,
                task_queue=queue,
                activities=terraform_activities,
                identity=identity,
                build_id=version,
                max_concurrent_activities=max_concurrent_activities,
            )
        )
    return workers


def query_worker(client: Client, queue: str) -> Worker:
    """A worker that runs workflow tasks (and so answers queries) but never an activity
    task. For short-lived commands such as `tfo drift` that may share a server with a
    daemon: they must not pick up a terraform activity and abandon it when they exit.
    The workflows' local activities (read-only look-ups) run here all the same."""
    return Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        workflow_runner=UnsandboxedWorkflowRunner(),
        activities=[LockActivities(client).describe_lock_holder, QueueActivities(client).queue_has_pollers],
        no_remote_activities=True,
        identity=worker_identity("query"),
        build_id=build_id(),
    )
