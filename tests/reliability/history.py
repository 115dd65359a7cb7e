"""Reading Temporal histories: events per execution, payload sizes, activity attempts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import WorkflowHistory

from tfo.workflows import activity_ids

# Temporal warns at these limits (history.historyCountLimitWarn, limit.blobSize.warn).
EVENTS_WARN = 10_240
BLOB_WARN = 256 * 1024


@dataclass(frozen=True)
class Execution:
    workflow_id: str
    run_id: str
    workflow_type: str
    history: WorkflowHistory

    @property
    def events(self) -> int:
        return len(self.history.events)


async def executions(client: Any, query: str = "") -> list[Execution]:
    """Every execution (each continue-as-new run too) that matches a visibility query."""
    found = []
    async for wf in client.list_workflows(query or None):
        handle = client.get_workflow_handle(wf.id, run_id=wf.run_id)
        history = await handle.fetch_history()
        found.append(Execution(wf.id, wf.run_id, wf.workflow_type, history))
    return found


def messages(message: Message) -> Iterator[Message]:
    """`message` and every message nested in it, depth first."""
    yield message
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if isinstance(value, Message):
            yield from messages(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                if isinstance(item, Message):
                    yield from messages(item)
        else:
            for item in value:
                yield from messages(item)


def payloads(history: WorkflowHistory) -> Iterator[Payload]:
    for event in history.events:
        for message in messages(event):
            if isinstance(message, Payload):
                yield message


def largest_blob(history: WorkflowHistory) -> int:
    """The largest Payloads (or lone Payload) of a history, in bytes, as Temporal sizes blobs."""
    largest = 0
    for event in history.events:
        for message in messages(event):
            if isinstance(message, Payloads | Payload):
                largest = max(largest, message.ByteSize())
    return largest


def activity_attempts(history: WorkflowHistory) -> dict[str, list[int]]:
    """Activity type -> the attempt that completed each activity of that type (local ones excluded).

    History records one started event per activity, for its last attempt only.
    """
    scheduled: dict[int, str] = {}
    attempts: dict[str, list[int]] = {}
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.HasField("activity_task_started_event_attributes"):
            attrs = event.activity_task_started_event_attributes
            name = scheduled.get(attrs.scheduled_event_id, "?")
            attempts.setdefault(name, []).append(attrs.attempt)
    return attempts


def phase_attempts(history: WorkflowHistory, workspace: str) -> list[dict[str, list[int]]]:
    """Per phase try of `workspace` run inline (workflows.activity_ids), oldest first:
    activity type -> the attempt that completed each activity of that type."""
    scheduled: dict[int, tuple[str, str]] = {}
    phases: dict[str, dict[str, list[int]]] = {}
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            inline = activity_ids.parse(attrs.activity_id)
            if inline is not None and inline[0] == workspace:
                scheduled[event.event_id] = (inline[1], attrs.activity_type.name)
        elif event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            if started.scheduled_event_id in scheduled:
                phase, kind = scheduled[started.scheduled_event_id]
                phases.setdefault(phase, {}).setdefault(kind, []).append(started.attempt)
    return list(phases.values())
