"""Record workflow histories for the replay test.

    .venv/bin/python -m tests.replay.record

Runs a small apply (with a skipped and a failed branch, and one workspace on its own
task queue) on a fresh dev server and saves the parent's and the drift ledger's
history under tests/replay/histories/, named with RECORDED (the version that
recorded them). Never overwrite older ones: a history recorded by older code is
what catches a change that breaks determinism for runs already in flight. (0.4's
include a TerraformWorkflow child, terraform_app.json: since 0.5, runs on local dirs
run their workspaces' phases inline.)
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from devtools.offline_terraform import pinned_terraform, write_offline_setup
from tests.integration.engine import run_stack
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import write_stack
from tfo.config.loader import load_config
from tfo.daemon.embedded import temporal_binary

HISTORIES = Path(__file__).parent / "histories"
RECORDED = "0_5_batches"  # 0.5 after record_batches (a run hands its ledger shards over in batches)


async def record() -> None:
    import os

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["TF_CLI_CONFIG_FILE"] = str(write_offline_setup(root / "offline"))
        config = write_stack(
            root / "stack",
            [
                W("vpc", outputs={"vpc_id": '"vpc-1"', "azs": '["a", "b"]'}, sensitive_outputs=[]),
                # On its own queue: the run asks Temporal whether that queue has a worker.
                W("db", depends_on=["vpc"], inputs=[("vpc", "vpc_id", "vpc_id")], variables={"vpc_id": "string"},
                  outputs={"password": '"s3cret"'}, sensitive_outputs=["password"], task_queue="replay-db"),
                W("app", depends_on=["db"], inputs=[("db", "password", "password"), ("vpc", "azs", "azs")],
                  variables={"password": "string", "azs": "list(string)"}, sensitive_variables=["password"]),
                W("broken", broken=True),
                W("after-broken", depends_on=["broken"]),
            ],
            binary=str(pinned_terraform()),
            top={"task_queue": "replay"},
        )
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_binary(), data_converter=pydantic_data_converter
        )
        try:
            report = await run_stack(env.client, config, mode="apply")
            HISTORIES.mkdir(exist_ok=True)
            parent = await env.client.get_workflow_handle(report.run_id).fetch_history()
            (HISTORIES / f"parent_apply_{RECORDED}.json").write_text(parent.to_json())
            from tfo.config.drift_models import ledger_id
            from tfo.config.ledger_shards import ledger_shard

            ledger_key = ledger_id(load_config(config).id, ledger_shard("app"))
            ledger = await env.client.get_workflow_handle(ledger_key).fetch_history()
            (HISTORIES / f"drift_ledger_{RECORDED}.json").write_text(ledger.to_json())
            print(f"recorded {report.run_id}: {report.status.value}")
            await record_waiting_for_worker(env.client, root)
        finally:
            await env.shutdown()


async def record_waiting_for_worker(client, root: Path) -> None:  # type: ignore[no-untyped-def]
    """A plan whose workspace waits for a worker on a queue nobody polls, then is cancelled."""
    from tests.conftest import running_workers
    from tfo.config.payloads import RunReport, WorkspaceStatus
    from tfo.daemon import runs

    config = write_stack(
        root / "waiting",
        [W("here"), W("elsewhere", task_queue="replay-nobody")],
        binary=str(pinned_terraform()),
        top={"task_queue": "replay-waiting"},
    )
    request = runs.build_request(load_config(config), mode="plan", workspaces=[], state_dir=config.parent / ".tfo")
    async with running_workers(client, "replay-waiting"):
        run_id = await runs.start_run(client, request)
        handle = client.get_workflow_handle(run_id, result_type=RunReport)
        for _ in range(600):
            live = await handle.query("status", result_type=RunReport)
            # Wait for a re-check after the first back-off, so the history holds both.
            if live and live.workspaces["elsewhere"].status == WorkspaceStatus.WAITING:
                history = await handle.fetch_history()
                if sum(1 for e in history.events if e.HasField("timer_fired_event_attributes")) >= 1:
                    break
            await asyncio.sleep(0.1)
        await handle.cancel()
        report = await handle.result()
    history = await handle.fetch_history()
    (HISTORIES / f"parent_waiting_for_worker_{RECORDED}.json").write_text(history.to_json())
    print(f"recorded {run_id}: {report.status.value}")


if __name__ == "__main__":
    asyncio.run(record())
