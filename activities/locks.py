"""Looking up which run holds a workspace's lock (its running TerraformWorkflow)."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError


class LockActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="describe_lock_holder")
    async def describe_lock_holder(self, lock_workflow_id: str) -> str:
        """The run ID holding the lock, or "unknown" if it has just been released."""
        try:
            desc = await self._client.get_workflow_handle(lock_workflow_id).describe()
        except RPCError:
            return "unknown"
        return desc.parent_id or "unknown"
