"""Removing a finished run's files: saved plans and logs may hold variable values."""

from __future__ import annotations

import shutil
from pathlib import Path

from temporalio import activity


class RunFilesActivities:
    @activity.defn(name="cleanup_run")
    async def cleanup_run(self, state_dir: str, run_id: str) -> None:
        path = Path(state_dir) / "runs" / run_id
        if path.parent.name == "runs" and path.name == run_id:
            shutil.rmtree(path, ignore_errors=True)
