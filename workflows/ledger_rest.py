"""A drift ledger shard's per-workspace records, kept as JSON between workflow tasks.

A shard holds a WorkspaceDrift and its transitions for each of its workspaces. As
pydantic objects a clean workspace costs about 4.8 KB of the worker's memory; as
the JSON they travel in, about 0.6 KB. The ledger works on objects only inside
`opened` (folding a run, sending an alert, deciding reminders, continuing as new),
and its `report` query sends the stored JSON as it is. So the 32 shards of a
10,000-workspace config keep about 6 MB in a worker instead of about 48 MB.

Nothing here is nondeterministic: the JSON of a record is a pure function of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import TypeAdapter

from tfo.config.drift_models import DriftReport, LedgerState, Transition, WorkspaceDrift

_TRANSITIONS = TypeAdapter(list[Transition])


class RecordsAtRest:
    """The `workspaces` and `history` of a LedgerState, as JSON per workspace."""

    def __init__(self) -> None:
        self._workspaces: dict[str, bytes] = {}
        self._history: dict[str, bytes] = {}

    def take(self, state: LedgerState) -> None:
        """Move the state's records in, leaving its two dicts empty."""
        self._workspaces = {name: ws.model_dump_json().encode() for name, ws in state.workspaces.items()}
        self._history = {name: _TRANSITIONS.dump_json(items) for name, items in state.history.items()}
        state.workspaces, state.history = {}, {}

    def restore(self, state: LedgerState) -> LedgerState:
        """Put the records back into the state as objects (and keep the JSON)."""
        state.workspaces = self.workspaces()
        state.history = self.history()
        return state

    @contextmanager
    def opened(self, state: LedgerState) -> Iterator[LedgerState]:
        """The state with its records as objects; what the block changed is kept.

        Not for continue-as-new: its input is serialised after the block has ended,
        so use restore() there."""
        self.restore(state)
        try:
            yield state
        finally:
            self.take(state)

    def workspaces(self) -> dict[str, WorkspaceDrift]:
        return {name: WorkspaceDrift.model_validate_json(data) for name, data in self._workspaces.items()}

    def report_json(self, head: DriftReport) -> bytes:
        """The JSON of `head` (a report without workspaces) with the records spliced in
        as stored: answering a query builds no object per workspace."""
        rest = json.dumps(head.model_dump(mode="json", exclude={"workspaces"}), separators=(",", ":"))
        records = b",".join(json.dumps(name).encode() + b":" + data for name, data in self._workspaces.items())
        return rest[:-1].encode() + b',"workspaces":{' + records + b"}}"

    def history(self) -> dict[str, list[Transition]]:
        return {name: _TRANSITIONS.validate_json(data) for name, data in self._history.items()}
