"""Removing a finished run's files: saved plans and logs may hold variable values."""

from __future__ import annotations

import shutil
from pathlib import Path

from temporalio import activity

from tfo.activities.workspace_local import LocalWorkspaces
from tfo.config.artifact_models import ArtifactsConfig


class RunFilesActivities:
    """Args:
    local: This worker's dirs (its own work dir in cluster mode).
    """

    def __init__(self, local: LocalWorkspaces | None = None) -> None:
        self._local = local or LocalWorkspaces()

    @activity.defn(name="cleanup_run")
    async def cleanup_run(self, state_dir: str, run_id: str) -> None:
        path = Path(self._local.state_dir(state_dir)) / "runs" / run_id
        if path.parent.name == "runs" and path.name == run_id:
            shutil.rmtree(path, ignore_errors=True)

    @activity.defn(name="delete_plans")
    async def delete_plans(self, artifacts: ArtifactsConfig, state_dir: str, run_id: str) -> int:
        """Remove a finished run's plans from the artifact store; how many there were."""
        return await self._local.delete(artifacts, state_dir, run_id)
