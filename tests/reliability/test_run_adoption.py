"""`tfo plan|apply` resumes only the user's own run (issue 15, item 1).

Real `tfo` processes in embedded mode, real terraform, and a real `tfo mcp` over stdio:
- the same request resumes its interrupted run, even after the CLI was killed -9;
- editing infra.yaml between the interrupted apply and the next one starts a new plan;
- a second live shell is never told "resuming" about a run the first one follows;
- `--auto-approve` never attaches to a run that waits for a human;
- an agent's apply and a human's `tfo apply` of the same dir never share a run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from tests.integration.cli_helpers import Background, Tfo
from tests.reliability.figures import record_figure
from tests.reliability.mcp_client import call, mcp_session
from tests.reliability.processes import GIVE_UP
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import state_resources, write_stack

RESUMING = "resuming interrupted run"


def interrupt(bg: Background, signum: int = signal.SIGINT) -> int:
    os.kill(bg.proc.pid, signum)
    return bg.proc.wait(timeout=60)


def stack(root: Path, terraform) -> Path:  # type: ignore[no-untyped-def]
    return write_stack(root / "stack", [W("net"), W("app", depends_on=["net"])], binary=terraform.binary)


def test_only_the_same_request_resumes_and_an_edit_starts_a_new_plan(tfo: Tfo, terraform, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = stack(tmp_path.resolve(), terraform)
    with tfo.background("apply", config, logs=tmp_path / "first") as first:
        run_id = first.wait_for_approval()
        assert interrupt(first) == 130, first.stderr()

    # The same request, nobody following: resumed. Then the CLI is killed outright.
    with tfo.background("apply", config, logs=tmp_path / "second") as second:
        assert second.wait_for_approval() == run_id
        assert f"{RESUMING} {run_id}" in second.stderr()
        assert interrupt(second, signal.SIGKILL) == -signal.SIGKILL

    # A killed follower does not block resumption; the same request resumes again.
    started = time.monotonic()
    with tfo.background("apply", config, logs=tmp_path / "third") as third:
        assert third.wait_for_approval() == run_id
        seconds = time.monotonic() - started
        record_figure("adoption: resume after the follower was killed -9, seconds to the gate", seconds)
        assert interrupt(third) == 130, third.stderr()

    config.write_text(config.read_text() + "# edited between the interrupted apply and the next\n")
    with tfo.background("apply", config, logs=tmp_path / "edited") as edited:
        new_id = edited.wait_for_approval()
        stderr = edited.stderr()
        assert new_id != run_id, stderr
        assert RESUMING not in stderr, stderr
        assert f"not resuming run {run_id}: infra.yaml changed since it started" in stderr, stderr
        assert "Traceback" not in stderr
        rejected = tfo.run("reject", new_id)
        assert rejected.code == 0, rejected
        assert edited.finish().code == 1
    assert state_resources(config.parent / "net") == []


def test_a_second_live_shell_is_never_told_resuming(tfo: Tfo, terraform, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = stack(tmp_path.resolve(), terraform)
    with tfo.background("apply", config, logs=tmp_path / "first") as first:
        run_id = first.wait_for_approval()

        second = tfo.run("apply", config)
        assert second.code == 1, second
        assert RESUMING not in second.stderr, second
        line = second.stderr.strip().splitlines()[-1]
        assert f"run {run_id}, which another tfo process (pid {first.proc.pid}) is following it" in line, second
        for step in ("tfo status", "tfo approve", "tfo cancel"):
            assert f"`{step} {run_id}`" in line, second
        assert "Traceback" not in second.stderr

        # A plan of the same dir is not refused, but it is a run of its own.
        plan = tfo.run("plan", config, "--json")
        assert plan.code == 2, plan
        assert plan.json()["run_id"] != run_id
        assert f"not resuming run {run_id}: it is an apply" in plan.stderr, plan
        assert RESUMING not in plan.stderr

        assert first.proc.poll() is None  # the first shell still follows its run
        assert tfo.run("reject", run_id).code == 0
        assert first.finish().code == 1


def test_auto_approve_never_attaches_to_a_run_waiting_for_a_human(tfo: Tfo, terraform, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = stack(tmp_path.resolve(), terraform)
    with tfo.background("apply", config, logs=tmp_path / "gated") as gated:
        run_id = gated.wait_for_approval()
        assert interrupt(gated) == 130

    auto = tfo.run("apply", config, "--auto-approve", "--json")
    assert auto.code == 0, auto
    assert auto.json()["run_id"] != run_id
    assert RESUMING not in auto.stderr, auto
    assert "--auto-approve never takes over such a run" in auto.stderr, auto
    assert state_resources(config.parent / "app") == ["null_resource.app"]
    status = tfo.run("status", run_id, "--json")
    assert status.code == 0, status
    assert status.json()["status"] == "awaiting_approval"  # still the human's to decide
    assert tfo.run("reject", run_id).code == 0


async def test_an_agents_apply_and_a_humans_apply_never_share_a_run(tfo: Tfo, terraform, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path.resolve()
    config = write_stack(root / "agents" / "stack", [W("solo")], binary=terraform.binary)
    state = config.parent / ".tfo"  # the state dir `tfo apply` uses: one server, one last-run.json
    args = ("--config-root", root / "agents", "--allow-apply")
    async with mcp_session(root, state, *args, log=root / "mcp.log") as session:
        agent_run = (await call(session, "execute_workflow", config_path="stack", mode="apply"))[0]["workflow_id"]
        deadline = time.monotonic() + GIVE_UP
        while (await call(session, "get_workflow_status", workflow_id=agent_run))[0]["status"] != "awaiting_approval":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)

        with tfo.background("apply", config, logs=root / "human") as human:
            human_run = await asyncio.to_thread(human.wait_for_approval)
            stderr = human.stderr()
            assert human_run != agent_run, stderr
            assert RESUMING not in stderr, stderr
            assert f"not resuming run {agent_run}: an agent (MCP) started it" in stderr, stderr
            approved = await asyncio.to_thread(tfo.run, "approve", human_run)
            assert approved.code == 0, approved
            assert (await asyncio.to_thread(human.finish)).code == 0

        # The agent's run is untouched: still waiting for its own human decision.
        agent = (await call(session, "get_workflow_status", workflow_id=agent_run))[0]
        assert agent["status"] == "awaiting_approval", agent
        await call(session, "cancel_run", workflow_id=agent_run)
    assert state_resources(config.parent / "solo") == ["null_resource.solo"]
