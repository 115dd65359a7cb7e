"""A drift ledger shard's per-workspace records, kept as JSON between workflow tasks.

A shard holds a WorkspaceDrift and its transitions for each of its workspaces. As
pydantic objects a clean workspace costs about 4.8 KB of the worker's memory; as
the JSON they travel in, about 0.6 KB. The ledger works on objects only inside
`opened` (folding a run, sending an alert, deciding reminders, continuing as new),
and its `report` query sends the stored JSON as it is. So the 32 shards of a
10,000-workspace config keep about 6 MB in a worker instead of about 48 MB.

A block may open only some records: folding a record part opens the workspaces it
names and those they read outputs from, not the whole shard. Each fold (and its
replay, when a cold worker answers a query) then costs what the part holds, not
what the shard holds (~30 ms for a shard of 313 workspaces on a busy host). The
shard-wide bounds (drift_rules.bound_shard) need every record only when they are
exceeded, which the sizes kept here tell without opening any.

Nothing here is nondeterministic: the JSON of a record is a pure function of it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from contextlib import contextmanager

from pydantic import TypeAdapter

from tfo.config.drift_models import DriftReport, DriftStatus, LedgerState, Transition, WorkspaceDrift
from tfo.workflows.drift_rules import record_diff_bytes

_TRANSITIONS = TypeAdapter(list[Transition])


class RecordsAtRest:
    """The `workspaces` and `history` of a LedgerState, as JSON per workspace, with the
    figures of each that the shard-wide bounds and reminders ask for."""

    def __init__(self) -> None:
        self._workspaces: dict[str, bytes] = {}
        self._history: dict[str, bytes] = {}
        self._diff_bytes: dict[str, int] = {}
        self._transitions: dict[str, int] = {}
        self._drifted: set[str] = set()

    def take(self, state: LedgerState) -> None:
        """Move the state's records in, leaving its two dicts empty. Records the state
        does not hold (a block opened only some) stay as they are."""
        for name, ws in state.workspaces.items():
            self._workspaces[name] = ws.model_dump_json().encode()
            self._diff_bytes[name] = record_diff_bytes(ws)
            if ws.status == DriftStatus.DRIFTED:
                self._drifted.add(name)
            else:
                self._drifted.discard(name)
        for name, items in state.history.items():
            self._history[name] = _TRANSITIONS.dump_json(items)
            self._transitions[name] = len(items)
        state.workspaces, state.history = {}, {}

    def restore(self, state: LedgerState) -> LedgerState:
        """Put the records back into the state as objects (and keep the JSON)."""
        state.workspaces = self.workspaces()
        state.history = self.history()
        return state

    @contextmanager
    def opened(self, state: LedgerState, names: Collection[str] | None = None) -> Iterator[LedgerState]:
        """The state with its records as objects (those of `names` only, if given); what
        the block changed or added is kept.

        Not for continue-as-new: its input is serialised after the block has ended,
        so use restore() there."""
        if names is None:
            self.restore(state)
        else:
            stored, history = self._workspaces, self._history
            state.workspaces = {n: WorkspaceDrift.model_validate_json(stored[n]) for n in _in(names, stored)}
            state.history = {n: _TRANSITIONS.validate_json(history[n]) for n in _in(names, history)}
        try:
            yield state
        finally:
            self.take(state)

    def diff_bytes(self) -> int:
        """The attribute diffs of all records together (see drift_rules.bound_shard)."""
        return sum(self._diff_bytes.values())

    def transitions(self) -> int:
        """The transitions of all records together (see drift_rules.bound_shard)."""
        return sum(self._transitions.values())

    def drifted(self) -> set[str]:
        """The workspaces whose record says drifted: the only ones a reminder is for."""
        return set(self._drifted)

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


def _in(names: Collection[str], stored: dict[str, bytes]) -> list[str]:
    return sorted(n for n in names if n in stored)
