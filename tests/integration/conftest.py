"""Fixtures shared by the integration tests that drive the real `tfo` console script."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Terraform
from tests.integration.cli_helpers import Tfo, kill_dev_servers
from tests.integration.postgres import postgres_server  # noqa: F401  (fixture `postgres`)
from tests.integration.s3_server import s3_endpoint  # noqa: F401  (fixture)


@pytest.fixture
def tfo(tmp_path: Path, terraform: Terraform) -> Iterator[Tfo]:
    """`tfo` in embedded mode, with its state and logs under the test's tmp dir."""
    root = tmp_path.resolve()
    try:
        yield Tfo(root, cwd=root)
    finally:
        # Only a failed test can leave one; it has already been reported by then.
        kill_dev_servers(root)
