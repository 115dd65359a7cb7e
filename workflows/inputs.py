"""Resolving a workspace's inputs from its upstreams' outputs (pure, used by ParentWorkflow)."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping

from temporalio.exceptions import ApplicationError, CancelledError, FailureError

from tfo.config.errors import ErrorType
from tfo.config.payloads import InputValue, OutputValue, PlanResult, SensitiveRef, WorkspaceSpec
from tfo.config.plan_models import OUTPUTS_INLINE_BYTES

CANCELLED = "Cancelled"


class WorkspaceFailed(Exception):
    """A workspace ended badly; carries the user-facing message and error type."""

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind


def resolve_inputs(
    spec: WorkspaceSpec,
    *,
    specs: dict[str, WorkspaceSpec],
    outputs: dict[str, dict[str, OutputValue]],
    plans: dict[str, PlanResult],
    deferred: set[str],
    may_defer: bool,
    upstream_pending: Mapping[str, Collection[str]] | None = None,
) -> dict[str, InputValue] | None:
    """The workspace's input values; None means "defer until its upstream is applied".

    An upstream output that only its apply will produce defers the workspace while it
    is being planned, in any run; in an apply phase it is a failure.

    `upstream_pending` names outputs, of upstreams outside `plans`, that their plans change.

    Sensitive outputs become references the activity resolves from upstream state,
    so their values never enter workflow history.

    Raises:
        WorkspaceFailed: an output is missing (the message names it and what to do).
    """
    values: dict[str, InputValue] = {}
    budget = OUTPUTS_INLINE_BYTES  # a request's input values, together
    for mapping in spec.inputs:
        src, name = mapping.source_workspace, mapping.source_output
        if src not in specs:
            raise WorkspaceFailed(f"input {mapping.target_var}: {src} is not part of this run")
        available = outputs.get(src, {})
        output = available.get(name)
        if output is None:
            pending = (
                src in deferred
                or (src in plans and name in plans[src].summary.output_changes)
                or name in (upstream_pending or {}).get(src, ())
            )
            # Planning (not yet planned nor deferred itself): a plan-only run reports the
            # workspace as waiting for its upstream's apply, as an apply run defers it.
            planning = spec.name not in plans and spec.name not in deferred
            if pending and (may_defer or planning):
                return None
            if pending or not available:
                raise WorkspaceFailed(
                    f"upstream output {name} not available yet: apply {src} first", ErrorType.MISSING_OUTPUT
                )
            raise WorkspaceFailed(
                f"upstream {src} has no output {name!r} (input {mapping.target_var})", ErrorType.MISSING_OUTPUT
            )
        size = len(json.dumps(output.value, separators=(",", ":"))) if not output.by_reference else 0
        if output.by_reference or size > budget:
            # Sensitive or large: the activity reads it from the upstream's state.
            upstream = specs[src]
            ref = SensitiveRef(workspace=src, dir=upstream.dir, binary=upstream.binary, output=name)
            values[mapping.target_var] = InputValue(ref=ref)
        else:
            budget -= size
            values[mapping.target_var] = InputValue(value=output.value)
    return values


def phase_failure(exc: FailureError) -> WorkspaceFailed:
    """The innermost application error's message and type, for the user."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ApplicationError):
            return WorkspaceFailed(cause.message, cause.type)
        if isinstance(cause, CancelledError):
            return WorkspaceFailed("cancelled", CANCELLED)
        cause = cause.__cause__
    return WorkspaceFailed(str(exc))
