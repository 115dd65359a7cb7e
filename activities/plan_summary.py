"""Turning `terraform show -json PLANFILE` into a PlanSummary.

The plan JSON is the only source of truth: `-detailed-exitcode` reports changes
even for a clean refresh-only plan, so the exit code is never trusted alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tfo.activities.drift_noise import ignored_changes
from tfo.activities.failures import non_retryable
from tfo.activities.plan_diff import bound_workspace, resource_diff
from tfo.config.drift_config import IgnoreRule
from tfo.config.errors import ErrorType
from tfo.config.plan_models import (
    MAX_CHECKS,
    OUTPUT_INLINE_BYTES,
    OUTPUT_MAX_BYTES,
    OUTPUTS_INLINE_BYTES,
    ChangeCounts,
    CheckResult,
    OutputValue,
    PlanSummary,
    ResourceChange,
)

MAX_CHECK_MESSAGES = 5
MAX_MESSAGE_CHARS = 500


def action_of(actions: list[str]) -> str | None:
    """Map terraform's action list to one word; None for no-op and reads."""
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    if len(actions) == 1 and actions[0] in ("create", "update", "delete"):
        return actions[0]
    return None


def summarize(plan: dict[str, Any], *, ignore_rules: Sequence[IgnoreRule] = ()) -> PlanSummary:
    """The summary of a plan JSON, with bounded attribute diffs.

    Args:
        ignore_rules: The workspace's `drift.ignore` rules; the changes they silence
            are listed in `ignored` (the run report itself still shows every change).
    """
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
        resources.append(resource_diff(rc, action))
        if action == "replace" and rc.get("action_reason") == "replace_because_tainted":
            tainted.append(rc.get("address", "?"))
    drift = []
    masks = sensitivity_masks(plan)
    for rc in plan.get("resource_drift") or []:
        action = action_of(rc.get("change", {}).get("actions", []))
        if action is not None:
            drift.append(resource_diff(with_sensitivity(rc, masks.get(rc.get("address", ""))), action))
    output_changes = sorted(
        name
        for name, change in (plan.get("output_changes") or {}).items()
        if change.get("actions") not in (["no-op"], None)
    )
    resources.sort(key=lambda r: r.address)
    drift.sort(key=lambda r: r.address)
    ignored = ignored_changes(plan, resources, drift, list(ignore_rules))
    # Planned changes and drift share one diff budget per workspace.
    truncated = bound_workspace([*resources, *drift])
    truncated = any(r.truncated for r in [*resources, *drift]) or truncated
    return PlanSummary(
        changes=counts,
        resources=resources,
        output_changes=output_changes,
        drift=drift,
        checks=failed_checks(plan),
        ignored=ignored,
        diff_truncated=truncated,
        tainted=sorted(tainted),
        outputs=current_outputs(plan),
        terraform_version=str(plan.get("terraform_version", "")),
    )


def _merge(a: Any, b: Any) -> Any:
    """The union of two terraform sensitivity structures (True marks a sensitive value)."""
    if a is True or b is True:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _merge(a.get(k), b.get(k)) for k in a.keys() | b.keys()}
    if isinstance(a, list) and isinstance(b, list):
        return [_merge(x, y) for x, y in zip(a, b, strict=False)] + (a[len(b) :] if len(a) > len(b) else b[len(a) :])
    return a if a not in (None, False, {}, []) else b


def _state_resources(module: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(module.get("resources") or [])
    for child in module.get("child_modules") or []:
        found += _state_resources(child)
    return found


def sensitivity_masks(plan: dict[str, Any]) -> dict[str, Any]:
    """Address -> every sensitivity terraform states anywhere in the plan for it.

    terraform 1.0 writes `resource_drift` without sensitivity (`before_sensitive: {}`),
    so a drifted secret would show in clear: drift borrows the marks of the same
    resource's planned change and of its state.
    """
    masks: dict[str, Any] = {}
    for rc in plan.get("resource_changes") or []:
        change = rc.get("change") or {}
        mark = _merge(change.get("before_sensitive"), change.get("after_sensitive"))
        masks[rc.get("address", "")] = _merge(masks.get(rc.get("address", "")), mark)
    root = ((plan.get("prior_state") or {}).get("values") or {}).get("root_module") or {}
    for resource in _state_resources(root):
        address = resource.get("address", "")
        masks[address] = _merge(masks.get(address), resource.get("sensitive_values"))
    return masks


def with_sensitivity(item: dict[str, Any], mask: Any) -> dict[str, Any]:
    if mask in (None, False, {}, []):
        return item
    change = dict(item.get("change") or {})
    change["before_sensitive"] = _merge(change.get("before_sensitive"), mask)
    change["after_sensitive"] = _merge(change.get("after_sensitive"), mask)
    return {**item, "change": change}


def failed_checks(plan: dict[str, Any]) -> list[CheckResult]:
    """`check` blocks and conditions that failed or errored (terraform >= 1.5), bounded."""
    failed: list[CheckResult] = []
    for item in plan.get("checks") or []:
        status = str(item.get("status", ""))
        if status not in ("fail", "error"):
            continue
        address = item.get("address") or {}
        messages = [
            str(problem.get("message", ""))[:MAX_MESSAGE_CHARS]
            for instance in item.get("instances") or []
            for problem in instance.get("problems") or []
        ]
        failed.append(
            CheckResult(
                address=str(address.get("to_display", "?")),
                status="failed" if status == "fail" else "errored",
                messages=messages[:MAX_CHECK_MESSAGES],
            )
        )
    return sorted(failed, key=lambda c: c.address)[:MAX_CHECKS]


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
    """`{name: {value, sensitive}}` (as in `output -json`): sensitive values dropped, large
    ones kept back (see OutputValue), so that no payload grows with output sizes.

    Raises:
        ApplicationError: a value over OUTPUT_MAX_BYTES (OutputTooLarge, non-retryable).
    """
    out: dict[str, OutputValue] = {}
    sizes: dict[str, int] = {}
    for name, item in sorted(raw.items()):
        sensitive = bool(item.get("sensitive"))
        out[name] = OutputValue(value=None if sensitive else item.get("value"), sensitive=sensitive)
        if not sensitive:
            sizes[name] = len(json.dumps(item.get("value"), separators=(",", ":")))
    for name, size in sizes.items():
        if size > OUTPUT_MAX_BYTES:
            raise non_retryable(
                f"output {name} is {size / 1024 / 1024:.1f} MiB; tfo passes outputs of up to "
                f"{OUTPUT_MAX_BYTES // 1024 // 1024} MiB: keep large data in a store and output its address",
                ErrorType.OUTPUT_TOO_LARGE,
            )
    budget = OUTPUTS_INLINE_BYTES
    for name, size in sorted(sizes.items(), key=lambda item: (item[1], item[0])):  # smallest first
        if size > OUTPUT_INLINE_BYTES or size > budget:
            out[name] = OutputValue(size=size)
        else:
            budget -= size
    return out
