"""The file lock that runs on local dirs take per workspace (activities/workspace_lock)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from tfo.activities import workspace_lock
from tfo.activities.runner import inherited_fds
from tfo.config.errors import ErrorType


def hold(directory: Path, run_id: str, workspace: str = "net", attempt: int = 1):  # type: ignore[no-untyped-def]
    return workspace_lock.held(
        str(directory), run_id=run_id, workspace=workspace, attempt=attempt, heartbeat=lambda: None
    )


async def test_another_run_is_refused_at_once_naming_the_holder(tmp_path: Path) -> None:
    async with hold(tmp_path, "tfo-apply-a"):
        with pytest.raises(ApplicationError) as refused:
            async with hold(tmp_path, "tfo-plan-b"):
                pytest.fail("two runs held one workspace")
    assert refused.value.type == ErrorType.LOCK_HELD and refused.value.non_retryable
    assert refused.value.message == "workspace is locked by run tfo-apply-a"
    assert refused.value.details == ("tfo-apply-a",)
    # Released: the other run takes it, and the file names it while it holds it.
    async with hold(tmp_path, "tfo-plan-b"):
        assert workspace_lock.read_holder(str(tmp_path))["run_id"] == "tfo-plan-b"
    assert workspace_lock.read_holder(str(tmp_path)) == {}


async def test_another_workspace_of_the_same_run_on_the_same_dir_waits_its_turn(tmp_path: Path) -> None:
    async with hold(tmp_path, "tfo-apply-a", workspace="net"):
        with pytest.raises(ApplicationError, match="locked by run tfo-apply-a"):
            async with hold(tmp_path, "tfo-apply-a", workspace="net-again"):
                pass


async def test_a_retry_waits_for_its_own_earlier_attempt(tmp_path: Path) -> None:
    order: list[str] = []

    async def first() -> None:
        async with hold(tmp_path, "tfo-apply-a", attempt=1):
            order.append("first in")
            await asyncio.sleep(0.8)
            order.append("first out")

    async def retry() -> None:
        await asyncio.sleep(0.1)
        async with hold(tmp_path, "tfo-apply-a", attempt=2):
            order.append("retry in")

    await asyncio.gather(first(), retry())
    assert order == ["first in", "first out", "retry in"]


async def test_terraform_started_under_the_lock_keeps_it_after_the_worker_lets_go(tmp_path: Path) -> None:
    """A worker that dies leaves its terraform running: the lock stays until that ends."""
    async with hold(tmp_path, "tfo-apply-a"):
        orphan = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import time; time.sleep(1.5)", pass_fds=inherited_fds()
        )
    assert inherited_fds() == ()
    with pytest.raises(ApplicationError, match="locked by run"):
        async with hold(tmp_path, "tfo-plan-b"):
            pass
    await orphan.wait()
    async with hold(tmp_path, "tfo-plan-b"):
        pass


async def test_a_lock_that_cannot_be_created_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / ".terraform").write_text("not a directory")
    with pytest.raises(ApplicationError) as failed:
        async with hold(tmp_path, "tfo-plan-a"):
            pass
    assert failed.value.type == ErrorType.CONFIG and failed.value.non_retryable
    assert failed.value.message.startswith(f"cannot create the workspace lock {tmp_path}/.terraform/tfo.lock: ")


async def test_a_missing_dir_is_named(tmp_path: Path) -> None:
    with pytest.raises(ApplicationError) as failed:
        async with hold(tmp_path / "gone", "tfo-plan-a"):
            pass
    assert failed.value.type == ErrorType.CONFIG
    assert failed.value.message == f"dir {tmp_path / 'gone'} does not exist"
