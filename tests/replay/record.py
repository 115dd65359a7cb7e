"""Record workflow histories for the replay test.

    .venv/bin/python -m tests.replay.record

Runs a small apply (with a skipped and a failed branch) on a fresh dev server and
saves the parent's and one child's history under tests/replay/histories/. Re-record
only on purpose: a history recorded by older code is what catches a change that
breaks determinism for runs already in flight.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from daemon.embedded import temporal_binary
from devtools.offline_terraform import pinned_terraform, write_offline_setup
from tests.integration.engine import run_stack
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import write_stack

HISTORIES = Path(__file__).parent / "histories"


async def record() -> None:
    import os

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["TF_CLI_CONFIG_FILE"] = str(write_offline_setup(root / "offline"))
        config = write_stack(
            root / "stack",
            [
                W("vpc", outputs={"vpc_id": '"vpc-1"', "azs": '["a", "b"]'}, sensitive_outputs=[]),
                W("db", depends_on=["vpc"], inputs=[("vpc", "vpc_id", "vpc_id")], variables={"vpc_id": "string"},
                  outputs={"password": '"s3cret"'}, sensitive_outputs=["password"]),
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
            (HISTORIES / "parent_apply.json").write_text(parent.to_json())
            from config.loader import load_config, snapshot
            from workflows.terraform_workflow import lock_workflow_id

            spec = snapshot(load_config(config), state_dir=config.parent / ".tfo").workspace("app")
            child = await env.client.get_workflow_handle(lock_workflow_id(spec.lock_key)).fetch_history()
            (HISTORIES / "terraform_app.json").write_text(child.to_json())
            print(f"recorded {report.run_id}: {report.status.value}")
        finally:
            await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())
