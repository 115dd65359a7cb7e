"""A diamond plus an independent branch, on real Temporal and real terraform."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.integration.engine import run_stack
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import address_actions, state_resources, write_stack
from tfo.config.payloads import RunStatus, WorkspaceStatus


def diamond(root: Path, binary: str, queue: str) -> Path:
    """vpc -> (subnets, sg) -> cluster, plus an independent `logs`.

    cluster reads vpc's list and map outputs transitively (it depends on subnets/sg only).
    """
    return write_stack(
        root,
        [
            W("vpc", outputs={"vpc_id": '"vpc-123"', "azs": '["a", "b"]', "tags": '{team = "net", tier = "core"}'}),
            W(
                "subnets",
                depends_on=["vpc"],
                inputs=[("vpc", "vpc_id", "vpc_id")],
                variables={"vpc_id": "string"},
                outputs={"subnet_ids": '["s-1", "s-2"]', "count": "2"},
            ),
            W(
                "sg",
                depends_on=["vpc"],
                inputs=[("vpc", "vpc_id", "vpc_id")],
                variables={"vpc_id": "string"},
                outputs={"sg_id": '"sg-9"'},
            ),
            W(
                "cluster",
                depends_on=["subnets", "sg"],
                inputs=[
                    ("vpc", "azs", "azs"),
                    ("vpc", "tags", "tags"),
                    ("subnets", "subnet_ids", "subnet_ids"),
                    ("subnets", "count", "subnet_count"),
                    ("sg", "sg_id", "sg_id"),
                ],
                variables={
                    "azs": "list(string)",
                    "tags": "map(string)",
                    "subnet_ids": "list(string)",
                    "subnet_count": "number",
                    "sg_id": "string",
                },
                outputs={"seen": "{ azs = var.azs, tags = var.tags, n = var.subnet_count }"},
            ),
            W("logs", outputs={"bucket": '"logs-1"'}),
        ],
        binary=binary,
        top={"task_queue": queue},
    )


async def test_diamond_apply_then_replan_is_clean(temporal_env, terraform, tmp_path, task_queue):
    config = diamond(tmp_path, terraform.binary, task_queue)
    client = temporal_env.client

    applied = await run_stack(client, config, mode="apply", parallelism=2)
    assert applied.status == RunStatus.SUCCEEDED, applied.public_json()
    assert all(ws.outcome == "applied" for ws in applied.workspaces.values())
    # Typed outputs reached a workspace two levels down through transitive inputs.
    seen = applied.workspaces["cluster"].outputs["seen"]
    assert seen == {"azs": ["a", "b"], "tags": {"team": "net", "tier": "core"}, "n": 2}

    replan = await run_stack(client, config, mode="plan")
    assert replan.status == RunStatus.SUCCEEDED
    assert replan.changes is False
    assert {n: ws.changes.total() for n, ws in replan.workspaces.items()} == dict.fromkeys(replan.workspaces, 0)


async def test_out_of_band_change_shows_in_that_workspace_only(temporal_env, terraform, tmp_path, task_queue):
    config = diamond(tmp_path, terraform.binary, task_queue)
    client = temporal_env.client
    assert (await run_stack(client, config, mode="apply")).status == RunStatus.SUCCEEDED

    subprocess.run(
        [terraform.binary, "state", "rm", "null_resource.sg"], cwd=tmp_path / "sg", check=True, capture_output=True
    )
    report = await run_stack(client, config, mode="plan")
    changed = {n for n, ws in report.workspaces.items() if ws.changes.total()}
    assert changed == {"sg"}
    assert report.workspaces["sg"].changes.create == 1
    assert address_actions(report.public_json()["workspaces"]["sg"]["resources"]) == [
        {"address": "null_resource.sg", "action": "create"}
    ]


async def test_broken_workspace_skips_dependents_and_spares_independent_branch(
    temporal_env, terraform, tmp_path, task_queue
):
    config = write_stack(
        tmp_path,
        [
            W("vpc", broken=True),
            W("subnets", depends_on=["vpc"]),
            W("cluster", depends_on=["subnets"]),
            W("logs", outputs={"bucket": '"b"'}),
        ],
        binary=terraform.binary,
        top={"task_queue": task_queue},
    )
    report = await run_stack(temporal_env.client, config, mode="apply")
    assert report.status == RunStatus.FAILED
    ws = report.workspaces
    assert ws["vpc"].status == WorkspaceStatus.FAILED
    # The report keys the error by workspace: the message does not repeat the name (issue 15).
    assert "main.tf line" in (ws["vpc"].error or "") and not (ws["vpc"].error or "").startswith("vpc:")
    assert ws["subnets"].status == WorkspaceStatus.SKIPPED
    assert ws["cluster"].status == WorkspaceStatus.SKIPPED
    assert ws["logs"].status == WorkspaceStatus.SUCCEEDED and ws["logs"].outcome == "applied"
    # No terraform process ever ran in the skipped workspaces.
    for name in ("subnets", "cluster"):
        leftovers = {p.name for p in (tmp_path / name).iterdir()}
        assert leftovers == {"main.tf"}, leftovers
    assert state_resources(tmp_path / "logs") == ["null_resource.logs"]


async def test_missing_source_output_fails_the_dependent_naming_it(temporal_env, terraform, tmp_path, task_queue):
    config = write_stack(
        tmp_path,
        [
            W("vpc", outputs={"vpc_id": '"v"'}),
            W("subnets", depends_on=["vpc"], inputs=[("vpc", "vpc_idd", "vpc_id")], variables={"vpc_id": "string"}),
        ],
        binary=terraform.binary,
        top={"task_queue": task_queue},
    )
    client = temporal_env.client
    report = await run_stack(client, config, mode="apply")
    assert report.status == RunStatus.FAILED
    error = report.workspaces["subnets"].error or ""
    assert "vpc_idd" in error and "vpc" in error
    assert report.workspaces["vpc"].status == WorkspaceStatus.SUCCEEDED

    plan = await run_stack(client, config, mode="plan")
    assert plan.workspaces["subnets"].status == WorkspaceStatus.FAILED
    assert "no output 'vpc_idd'" in (plan.workspaces["subnets"].error or "")
