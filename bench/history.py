"""What a run leaves in Temporal: event counts and payload sizes, from fetched histories."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
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
    init_skipped: int = 0  # plan activities (of the run or its children) that skipped `terraform init`

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
    child_events = children = 0
    # Workspaces in local dirs run their plan activities in the run itself (0.5).
    init_skipped = sum(_skipped_init(e) for e in events)
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


# -- every execution a command created or added events to ---------------------------

_CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


def _at(event: HistoryEvent) -> float:
    return event.event_time.seconds + event.event_time.nanos / 1e9


@dataclass
class WindowStats:
    """The workflow executions of one command, as their histories stood when it ended.

    `executions` started during the command; `earlier` started before it (e.g. a
    long-lived ledger) but got events during it. Events after the command's end (the
    bench's own server start) are left out.
    """

    since: float  # POSIX seconds
    until: float
    executions: int = 0
    earlier: int = 0
    found_by_history: int = 0  # not listed by visibility, reached through a child or continued-as-new event
    open_executions: int = 0  # no close event at the command's end, by workflow type in `open_types`
    total_events: int = 0  # events the command caused, over all executions
    most_events: int = 0  # the longest history (all of it, also the part before the command)
    most_events_type: str = ""
    largest_payload: int = 0  # bytes, over the events the command caused
    largest_payload_type: str = ""
    largest_history_bytes: int = 0
    types: dict[str, int] = field(default_factory=dict)  # workflow type -> executions started
    open_types: dict[str, int] = field(default_factory=dict)

    def add(self, workflow_type: str, events: list[HistoryEvent], *, created: bool) -> None:
        events = [e for e in events if _at(e) <= self.until]
        caused = events if created else [e for e in events if _at(e) >= self.since]
        if not caused:
            return  # an earlier execution the command did not touch
        if created:
            self.executions += 1
            self.types[workflow_type] = self.types.get(workflow_type, 0) + 1
        else:
            self.earlier += 1
        self.total_events += len(caused)
        if len(events) > self.most_events:
            self.most_events, self.most_events_type = len(events), workflow_type
        largest = max((size for event in caused for size in payload_sizes(event)), default=0)
        if largest > self.largest_payload:
            self.largest_payload, self.largest_payload_type = largest, workflow_type
        self.largest_history_bytes = max(self.largest_history_bytes, sum(e.ByteSize() for e in events))
        if events[-1].event_type not in _CLOSED:
            self.open_executions += 1
            self.open_types[workflow_type] = self.open_types.get(workflow_type, 0) + 1


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _linked(events: list[HistoryEvent], workflow_id: str) -> Iterator[tuple[str, str]]:
    """(workflow id, run id) of the executions these events started: children, a continued run."""
    for event in events:
        if event.HasField("child_workflow_execution_started_event_attributes"):
            execution = event.child_workflow_execution_started_event_attributes.workflow_execution
            yield execution.workflow_id, execution.run_id
        elif event.HasField("workflow_execution_continued_as_new_event_attributes"):
            yield workflow_id, event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id


async def _settled_count(client: Client, query: str, *, timeout: float) -> int:
    """The query's count once it stopped changing for a second (visibility is written asynchronously)."""
    deadline = time.monotonic() + timeout
    previous = -1
    while True:
        count = (await client.count_workflows(query)).count
        if count == previous or time.monotonic() > deadline:
            return count
        previous = count
        await asyncio.sleep(1.0)


async def window_stats(
    address: str,
    since: dt.datetime,
    until: dt.datetime,
    *,
    concurrency: int = 32,
    settle_timeout: float = 60.0,
) -> WindowStats:
    """Fetch the history of every execution a command created or added events to; summarise them.

    A command ran from `since` to `until`, alone on its server. Executions come from
    the visibility API, so nothing is assumed about how a run is split into
    workflows: those that started in the window, and those that started before it
    and were still open at its start (whose histories tell whether the command
    touched them). Histories are fetched `concurrency` at a time. Visibility records
    are written by the server asynchronously: the listing waits until the count
    settles, and the child-started and continued-as-new events of every fetched
    history are followed too, so an execution the listing missed is still counted.
    """
    client = await Client.connect(address)
    start, end = rfc3339(since), rfc3339(until)
    created_query = f'StartTime >= "{start}" AND StartTime <= "{end}"'
    earlier_query = f'StartTime < "{start}" AND (ExecutionStatus = "Running" OR CloseTime >= "{start}")'
    await _settled_count(client, created_query, timeout=settle_timeout)
    stats = WindowStats(since=since.timestamp(), until=until.timestamp())
    seen: set[tuple[str, str]] = set()
    gate = asyncio.Semaphore(concurrency)

    async def fetch(workflow_id: str, run_id: str, how: str) -> list[tuple[str, str]]:
        async with gate:
            for attempt in range(3):
                try:
                    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
                    break
                except Exception:  # a transient RPC error must not lose the figure
                    if attempt == 2:
                        raise
                    await asyncio.sleep(1.0 + attempt)
        events = list(history.events)
        if not events:
            return []
        created = _at(events[0]) >= stats.since
        started = events[0].workflow_execution_started_event_attributes
        stats.add(started.workflow_type.name, events, created=created)
        stats.found_by_history += how == "linked" and created
        return list(_linked(events, workflow_id))

    pending: list[tuple[str, str, str]] = []
    for query, how in ((created_query, "listed"), (earlier_query, "earlier")):
        async for execution in client.list_workflows(query, page_size=1000):
            key = (execution.id, execution.run_id)
            if key not in seen:
                seen.add(key)
                pending.append((*key, how))
    while pending:
        found = await asyncio.gather(*(fetch(*item) for item in pending))
        pending = []
        for links in found:
            for key in links:
                if key not in seen:
                    seen.add(key)
                    pending.append((*key, "linked"))
    return stats
