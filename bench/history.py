"""What a run leaves in Temporal: event counts and payload sizes, from fetched histories."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client


@dataclass
class HistoryStats:
    """One run: its parent's history and, summed, its children's."""

    parent_events: int
    child_events: int
    children: int
    largest_payload: int  # bytes, over the parent's and the children's events
    largest_parent_payload: int
    parent_seconds: float  # first event to the close event: the run as the server saw it
    history_bytes: int  # the parent's whole history, serialized
    init_skipped: int = 0  # children whose plan activity skipped `terraform init`

    @property
    def total_events(self) -> int:
        return self.parent_events + self.child_events


def _repeated(descriptor: FieldDescriptor) -> bool:
    flag = getattr(descriptor, "is_repeated", None)  # protobuf >= 6 dropped `label`
    if flag is not None:
        return bool(flag)
    return bool(getattr(descriptor, "label", None) == FieldDescriptor.LABEL_REPEATED)


def payload_sizes(message: Message) -> Iterator[int]:
    """The serialized size of every Payload anywhere inside `message`."""
    for descriptor, value in message.ListFields():
        if descriptor.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        message_type = descriptor.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            items = list(value.values()) if isinstance(next(iter(value.values()), None), Message) else []
        elif _repeated(descriptor):
            items = list(value)
        else:
            items = [value]
        for item in items:
            if isinstance(item, Payload):
                yield item.ByteSize()
            else:
                yield from payload_sizes(item)


def _skipped_init(event: HistoryEvent) -> bool:
    """Whether an event is a plan activity's result that says init was skipped."""
    if not event.HasField("activity_task_completed_event_attributes"):
        return False
    for payload in event.activity_task_completed_event_attributes.result.payloads:
        try:
            value = json.loads(payload.data)
        except ValueError:
            continue
        if isinstance(value, dict) and value.get("init_skipped") is True:
            return True
    return False


async def run_stats(client: Client, run_id: str, *, with_children: bool = True) -> HistoryStats:
    history = await client.get_workflow_handle(run_id).fetch_history()
    events = list(history.events)
    largest_parent = max((size for event in events for size in payload_sizes(event)), default=0)
    largest = largest_parent
    child_events = children = init_skipped = 0
    if with_children:
        for event in events:
            if not event.HasField("child_workflow_execution_started_event_attributes"):
                continue
            execution = event.child_workflow_execution_started_event_attributes.workflow_execution
            child = await client.get_workflow_handle(execution.workflow_id, run_id=execution.run_id).fetch_history()
            children += 1
            child_events += len(child.events)
            largest = max([largest, *(size for e in child.events for size in payload_sizes(e))])
            init_skipped += any(_skipped_init(e) for e in child.events)
    first, last = events[0].event_time.ToDatetime(), events[-1].event_time.ToDatetime()
    return HistoryStats(
        parent_events=len(events),
        child_events=child_events,
        children=children,
        largest_payload=largest,
        largest_parent_payload=largest_parent,
        parent_seconds=(last - first).total_seconds(),
        history_bytes=sum(e.ByteSize() for e in events),
        init_skipped=init_skipped,
    )


async def stats_for(address: str, run_ids: list[str], *, with_children: bool = True) -> dict[str, HistoryStats]:
    client = await Client.connect(address)
    return {run_id: await run_stats(client, run_id, with_children=with_children) for run_id in run_ids}
