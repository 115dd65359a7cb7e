"""Starting and stopping drift remediation runs for the drift ledger.

A fix runs with the config of the scheduled check that found the drift: its input
is read back from that run's history, so the worker needs no infra.yaml of its own
and the fix plans exactly what was checked. The new run is an ordinary apply run of
the drifted workspace (and the upstreams it reads), with trigger `remediation`; it
stops at the approval gate unless `remediate: auto` finds it safe.
"""

from __future__ import annotations

import contextlib

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from tfo.activities.config_pages import stored_specs
from tfo.config.dag import Dag
from tfo.config.drift_models import RemediationAction
from tfo.config.payloads import RunRequest


class RemediationActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="propose_remediation")
    async def propose_remediation(self, action: RemediationAction) -> None:
        checked = await self._checked_request(action.run_id)
        specs = {ws.name: ws.depends_on for ws in await stored_specs(checked.config)}
        if action.workspace not in specs:
            raise ApplicationError(
                f"workspace {action.workspace} is not in the config of run {action.run_id}", non_retryable=True
            )
        request = RunRequest(
            config=checked.config,
            mode="apply",
            workspaces=Dag(specs).closure([action.workspace]),
            parallelism=checked.parallelism,
            trigger="remediation",
            ui_url=checked.ui_url,
            namespace=checked.namespace,
            auto_approve_safe=action.auto,
            ledger_shards=True,
            record_batches=True,
            segment_workspaces=checked.segment_workspaces,
            file_locks=checked.file_locks,
        )
        with contextlib.suppress(WorkflowAlreadyStartedError):  # a retry of a start that went through
            await self._client.start_workflow(
                "ParentWorkflow",
                request,
                id=action.new_run_id,
                task_queue=checked.config.task_queue,
                memo={"config": checked.config.path, "mode": "apply", "trigger": "remediation"},
            )

    @activity.defn(name="cancel_remediation")
    async def cancel_remediation(self, action: RemediationAction) -> None:
        handle = self._client.get_workflow_handle(action.run_id)
        try:
            desc = await handle.describe()
            if desc.status == WorkflowExecutionStatus.RUNNING:
                await handle.cancel()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise

    async def _checked_request(self, run_id: str) -> RunRequest:
        handle = self._client.get_workflow_handle(run_id)
        async for event in handle.fetch_history_events():
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            (request,) = await self._client.data_converter.decode(payloads, [RunRequest])
            assert isinstance(request, RunRequest)
            return request
        raise ApplicationError(f"run {run_id} has no history to take its config from", non_retryable=True)
