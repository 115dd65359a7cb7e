"""Turning `terraform show -json PLANFILE` into a PlanSummary.

The plan JSON is the only source of truth: `-detailed-exitcode` reports changes
even for a clean refresh-only plan, so the exit code is never trusted alone.
"""

from __future__ import annotations

from typing import Any

from config.payloads import ChangeCounts, OutputValue, PlanSummary, ResourceChange


def action_of(actions: list[str]) -> str | None:
    """Map terraform's action list to one word; None for no-op and reads."""
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    if len(actions) == 1 and actions[0] in ("create", "update", "delete"):
        return actions[0]
    return None


def summarize(plan: dict[str, Any]) -> PlanSummary:
    counts = ChangeCounts()
    resources: list[ResourceChange] = []
    tainted: list[str] = []
    for rc in plan.get("resource_changes") or []:
        if rc.get("mode") == "data":
            continue
        action = action_of(rc.get("change", {}).get("actions", []))
        if action is None:
            continue
        setattr(counts, action, getattr(counts, action) + 1)
        resources.append(ResourceChange(address=rc.get("address", "?"), action=action))
        if action == "replace" and rc.get("action_reason") == "replace_because_tainted":
            tainted.append(rc.get("address", "?"))
    drift = []
    for rc in plan.get("resource_drift") or []:
        action = action_of(rc.get("change", {}).get("actions", []))
        if action is not None:
            drift.append(ResourceChange(address=rc.get("address", "?"), action=action))
    output_changes = sorted(
        name
        for name, change in (plan.get("output_changes") or {}).items()
        if change.get("actions") not in (["no-op"], None)
    )
    return PlanSummary(
        changes=counts,
        resources=sorted(resources, key=lambda r: r.address),
        output_changes=output_changes,
        drift=sorted(drift, key=lambda r: r.address),
        tainted=sorted(tainted),
        outputs=current_outputs(plan),
        terraform_version=str(plan.get("terraform_version", "")),
    )


def current_outputs(plan: dict[str, Any]) -> dict[str, OutputValue]:
    """The outputs as they are in state now, secrets removed.

    Not `prior_state`: terraform writes the outputs it can already compute into it,
    so it shows values that were never applied. `output_changes[].before` is what
    the state holds; an output being created has no current value.
    """
    changes = plan.get("output_changes")
    if changes is None:
        return {}
    current: dict[str, Any] = {}
    for name, change in changes.items():
        if "create" in (change.get("actions") or []) and change.get("before") is None:
            continue
        current[name] = {"value": change.get("before"), "sensitive": change.get("before_sensitive") is True}
    return redact_outputs(current)


def redact_outputs(raw: dict[str, Any]) -> dict[str, OutputValue]:
    """`{name: {value, sensitive}}` (as in `output -json`) with sensitive values dropped."""
    out: dict[str, OutputValue] = {}
    for name, item in sorted(raw.items()):
        sensitive = bool(item.get("sensitive"))
        out[name] = OutputValue(value=None if sensitive else item.get("value"), sensitive=sensitive)
    return out
