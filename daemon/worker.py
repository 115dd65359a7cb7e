"""The one list of workflows and activities, and building workers for task queues."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.alerts import AlertActivities, DriftRecordActivities
from activities.locks import LockActivities
from activities.run_files import RunFilesActivities
from activities.runner import TerraformRunner
from activities.terraform import TerraformActivities
from workflows.drift_ledger import DriftLedgerWorkflow
from workflows.parent import ParentWorkflow
from workflows.terraform_workflow import TerraformWorkflow

WORKFLOWS = [ParentWorkflow, TerraformWorkflow, DriftLedgerWorkflow]


def worker_identity(label: str = "") -> str:
    base = f"{os.getpid()}@{socket.gethostname()}"
    return f"{label}:{base}" if label else base


def build_workers(
    client: Client,
    *,
    default_queue: str,
    activity_queues: Sequence[str] = (),
    identity: str | None = None,
    runner: TerraformRunner | None = None,
    max_concurrent_activities: int = 32,
) -> list[Worker]:
    """Workers for the default queue (workflows and activities) and for extra activity queues."""
    identity = identity or worker_identity()
    terraform = TerraformActivities(runner or TerraformRunner(), worker_id=identity)
    files = RunFilesActivities()
    locks = LockActivities(client)
    terraform_activities: list[Callable[..., Any]] = [
        terraform.plan_workspace,
        terraform.apply_workspace,
        files.cleanup_run,
    ]
    workers = [
        Worker(
            client,
            task_queue=default_queue,
            workflows=WORKFLOWS,
            activities=[
                *terraform_activities,
                locks.describe_lock_holder,
                AlertActivities().send_alert,
                DriftRecordActivities(client, task_queue=default_queue).record_run,
            ],
            identity=identity,
            max_concurrent_activities=max_concurrent_activities,
        )
    ]
    for queue in sorted(set(activity_queues) - {default_queue}):
        workers.append(
            Worker(
                client,
                task_queue=queue,
                activities=terraform_activities,
                identity=identity,
                max_concurrent_activities=max_concurrent_activities,
            )
        )
    return workers
