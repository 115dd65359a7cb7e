"""Asking Temporal whether any worker polls a task queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

# The server lists a poller for minutes after its last poll, and an idle worker
# re-polls about once a minute (the long-poll expiry); anything older has gone.
POLLER_FRESHNESS = timedelta(minutes=2)


async def has_pollers(client: Client, queue: str, *, workflows: bool = False) -> bool:
    """Whether a worker has recently polled `queue` for activity (or workflow) tasks."""
    kind = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW if workflows else TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=kind,
        )
    )
    now = datetime.now(UTC)
    for poller in response.pollers:
        if not poller.HasField("last_access_time"):
            return True
        if now - poller.last_access_time.ToDatetime(tzinfo=UTC) < POLLER_FRESHNESS:
            return True
    return False


class QueueActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="queue_has_pollers")
    async def queue_has_pollers(self, queue: str) -> bool:
        """Whether a worker has recently polled `queue` for activities."""
        return await has_pollers(self._client, queue)
