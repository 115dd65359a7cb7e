"""Payloads of big runs: segments, and configs stored by reference (config_pages).

A segmented run is a run too big for one workflow history.

A run of more workspaces than SEGMENT_WORKSPACES (TFO_SEGMENT_WORKSPACES sets
another), or whose specs pass SEGMENT_SPEC_BYTES, is split, in DAG order, into segments: each runs as its own
RunSegmentWorkflow, so no history grows with the number of workspaces. The run's
ParentWorkflow keeps one approval gate and hands each segment what it needs of the
segments before it (an ExternalState); a segment hands back a SegmentResult.
Everything here is bounded by the size of one segment, never by the whole run.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tfo.config.artifact_models import ArtifactsConfig
from tfo.config.config_pages import ConfigPages
from tfo.config.payloads import OutputValue, Phase, RunRequest, RunStatus, WorkspaceSpec, WorkspaceStatus
from tfo.config.source_models import PinnedSource

SEGMENT_WORKSPACES = 500
# A segment's own specs and its upstreams', together: its request stays well under
# Temporal's payload limits (and tfo's 256 KiB bound).
SEGMENT_SPEC_BYTES = 96 * 1024
# Output values handed between segments by value, together; the others are read by
# the consuming activity from the upstream's state (as large outputs always are).
EXTERNAL_VALUE_BYTES = 48 * 1024


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ExternalState(_Payload):
    """What is known of workspaces outside a segment that its own depend on."""

    # Finished upstreams: succeeded (a planned one counts as succeeded) or not.
    done: dict[str, WorkspaceStatus] = Field(default_factory=dict)
    outputs: dict[str, dict[str, OutputValue]] = Field(default_factory=dict)
    # Outputs that an upstream's plan changes: known only after its apply.
    pending: dict[str, list[str]] = Field(default_factory=dict)
    deferred: list[str] = Field(default_factory=list)
    applied: list[str] = Field(default_factory=list)

    def merge(self, other: ExternalState) -> None:
        self.done.update(other.done)
        self.outputs.update(other.outputs)
        self.pending.update(other.pending)
        self.deferred = sorted(set(self.deferred) | set(other.deferred))
        self.applied = sorted(set(self.applied) | set(other.applied))

    def slice(self, names: set[str]) -> ExternalState:
        """Only these workspaces, with output values by value up to EXTERNAL_VALUE_BYTES."""
        budget = EXTERNAL_VALUE_BYTES
        outputs: dict[str, dict[str, OutputValue]] = {}
        for name in sorted(names & set(self.outputs)):
            outputs[name] = {}
            for key, value in self.outputs[name].items():
                size = 0 if value.by_reference else len(value.model_dump_json())
                if size > budget:
                    value = OutputValue(size=size)
                else:
                    budget -= size
                outputs[name][key] = value
        return ExternalState(
            done={n: s for n, s in self.done.items() if n in names},
            outputs=outputs,
            pending={n: o for n, o in self.pending.items() if n in names},
            deferred=[n for n in self.deferred if n in names],
            applied=[n for n in self.applied if n in names],
        )


class SegmentRequest(_Payload):
    """The one input of RunSegmentWorkflow."""

    # Its config holds the segment's specs and those of its upstreams; `workspaces`
    # names the segment's own.
    run: RunRequest
    run_id: str  # the whole run's: plans, locks and reports are filed under it
    index: int
    count: int
    started_at: str
    external: ExternalState = Field(default_factory=ExternalState)
    # The segment's workspaces that later segments depend on, with the outputs they use.
    exports: dict[str, list[str]] = Field(default_factory=dict)
    source: PinnedSource | None = None


class SegmentGo(_Payload):
    """The run's decision for a planned segment of an apply run."""

    approved: bool
    status: RunStatus = RunStatus.RUNNING  # REJECTED when the run was rejected
    note: str | None = None
    external: ExternalState = Field(default_factory=ExternalState)
    source: PinnedSource | None = None


class SegmentResult(_Payload):
    """A segment's answer after its plan phase (apply runs) and at its end."""

    index: int
    phase: Phase
    # Its workspaces that later segments depend on: status, used outputs, and so on.
    exports: ExternalState = Field(default_factory=ExternalState)
    to_apply: bool = False
    destructive: int = 0
    failed: int = 0
    deferred: int = 0
    changes: bool = False
    queues: list[str] = Field(default_factory=list)
    planners: list[str] = Field(default_factory=list)


class PageRequest(_Payload):
    """Input of load_config_page: which page of a stored config, and where it is."""

    pages: ConfigPages
    index: int
    artifacts: ArtifactsConfig | None = None
    state_dir: str


class ConfigPage(_Payload):
    """One page of a stored config: some specs, some selected names."""

    specs: list[WorkspaceSpec] = Field(default_factory=list)
    selection: list[str] = Field(default_factory=list)
