"""Outputs of any size never hang a run: large ones travel by reference, too large ones
fail their workspace with one clear line, and the rest of the DAG goes on."""

from __future__ import annotations

from tests.integration.engine import run_stack
from tests.reliability.history import BLOB_WARN, executions, largest_blob
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import write_stack
from tfo.config.payloads import RunStatus, WorkspaceStatus

KIB = 1024


def zeros(n: int) -> str:
    """An HCL expression for a string of n zeros."""
    return f'format("%0{n}d", 0)'


async def test_large_outputs_go_by_reference_and_a_3_mib_output_fails_alone(
    temporal_env, terraform, tmp_path, task_queue
):
    config = write_stack(
        tmp_path / "stack",
        [
            W("kube", outputs={"config": zeros(100 * KIB), "name": '"small"'}),
            W("user", depends_on=["kube"], inputs=[("kube", "config", "config"), ("kube", "name", "name")],
              variables={"config": "string", "name": "string"}, outputs={"length": "length(var.config)"}),
            W("huge", outputs={"blob": zeros(3 * KIB * KIB)}),
            W("after-huge", depends_on=["huge"]),
            W("solo"),
        ],
        binary=terraform.binary,
        top={"task_queue": task_queue},
    )  # fmt: skip
    report = await run_stack(temporal_env.client, config, mode="apply")

    assert report.status == RunStatus.FAILED
    huge = report.workspaces["huge"]
    assert huge.status == WorkspaceStatus.FAILED and huge.error_type == "OutputTooLarge", huge
    assert huge.error is not None and "output blob is 3.0 MiB" in huge.error and "\n" not in huge.error
    assert report.workspaces["after-huge"].status == WorkspaceStatus.SKIPPED
    for name in ("kube", "user", "solo"):
        assert report.workspaces[name].outcome == "applied", (name, report.workspaces[name])
    # The 100 KiB value reached its consumer whole, read from kube's state, not history.
    assert report.workspaces["user"].outputs["length"] == 100 * KIB
    assert report.workspaces["kube"].outputs == {"config": "(102,402 bytes: terraform output)", "name": "small"}
    found = await executions(temporal_env.client)
    assert found
    assert max(largest_blob(e.history) for e in found) < BLOB_WARN
