"""Which changes a drift check does not count: `drift.ignore` rules and irrelevant drift.

Only updates can be ignored. A create, a delete or a replace is never hidden, and
an update is ignored only when every attribute it changes matches a rule. Drift on
attributes that terraform (>= 1.2) says the plan does not depend on
(`relevant_attributes`) is ignored with reason `irrelevant`. Everything ignored is
listed in the report, so nothing vanishes silently.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from tfo.config.drift_config import IgnoreRule
from tfo.config.plan_models import MAX_IGNORED, IgnoredChange, ResourceChange

IRRELEVANT = "irrelevant"


def _path_matches(path: str, pattern: str) -> bool:
    # A rule on `tags` covers `tags.owner`; globs work per dotted path (`tags.*`).
    return fnmatchcase(path, pattern) or path.startswith(pattern + ".")


def rule_reason(change: ResourceChange, rules: list[IgnoreRule]) -> str | None:
    """The reason of the first rule that silences this whole change, or None."""
    if change.action != "update":
        return None
    for rule in rules:
        if not any(fnmatchcase(change.address, pattern) for pattern in rule.resources):
            continue
        if rule.attributes is None:
            return rule.reason
        # A truncated diff does not list every changed attribute: never hide it.
        if change.truncated or not change.attributes:
            continue
        if all(any(_path_matches(a.path, p) for p in rule.attributes) for a in change.attributes):
            return rule.reason
    return None


def _relevant_paths(plan: dict[str, Any]) -> dict[str, list[str]] | None:
    if "relevant_attributes" not in plan:
        return None  # terraform < 1.2 does not say
    relevant: dict[str, list[str]] = {}
    for item in plan.get("relevant_attributes") or []:
        path = ".".join(str(part) for part in item.get("attribute") or [])
        relevant.setdefault(str(item.get("resource", "")), []).append(path)
    return relevant


def _is_irrelevant(change: ResourceChange, relevant: dict[str, list[str]] | None) -> bool:
    if relevant is None or change.action != "update" or change.truncated or not change.attributes:
        return False
    paths = relevant.get(change.address, [])

    def related(path: str) -> bool:
        return any(not p or path == p or path.startswith(p + ".") or p.startswith(path + ".") for p in paths)

    return not any(related(a.path) for a in change.attributes)


def ignored_changes(
    plan: dict[str, Any], resources: list[ResourceChange], drift: list[ResourceChange], rules: list[IgnoreRule]
) -> list[IgnoredChange]:
    """The changes (planned and drifted) that a drift check does not count."""
    ignored: list[IgnoredChange] = []
    for change in resources:
        reason = rule_reason(change, rules)
        if reason is not None:
            ignored.append(IgnoredChange(address=change.address, reason=reason))
    relevant = _relevant_paths(plan)
    for change in drift:
        reason = rule_reason(change, rules)
        if reason is None and _is_irrelevant(change, relevant):
            reason = IRRELEVANT
        if reason is not None:
            ignored.append(IgnoredChange(address=change.address, reason=reason, drift=True))
    return ignored[:MAX_IGNORED]
