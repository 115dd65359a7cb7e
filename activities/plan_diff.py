"""Attribute-level diffs of one resource change, bounded and masked for payloads.

A plan item (`resource_changes[]` or `resource_drift[]` of `terraform show -json`)
carries `before`, `after` and three mirror structures: `after_unknown`,
`before_sensitive` and `after_sensitive`. Each is a bool or mirrors the value with
`true` at unknown or sensitive nodes. A sensitive value never leaves this module,
not even cut: it is replaced by `(sensitive)` before it is rendered.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from tfo.config.payloads import (
    DIFF_MAX_ATTRIBUTES,
    DIFF_MAX_VALUE_CHARS,
    DIFF_MAX_WORKSPACE_BYTES,
    SENSITIVE,
    UNKNOWN_AFTER_APPLY,
    AttributeChange,
    ResourceChange,
)

# Deeper values are rendered whole (as cut JSON) instead of walked, so a pathological
# value cannot exhaust the interpreter's recursion limit.
MAX_DEPTH = 32

_ELLIPSIS = "..."

Key = str | int


@dataclass(frozen=True, slots=True)
class _Found:
    """One differing node, rendered only if it survives the attribute bound."""

    parts: tuple[Key, ...]
    before: Any
    before_sensitive: Any
    after: Any
    after_sensitive: Any
    after_unknown: Any
    depth: int
    mask_both: bool = False


def resource_diff(item: dict[str, Any], action: str) -> ResourceChange:
    """The bounded, masked diff of one plan item whose actions map to `action`.

    For `update` and `replace`, every leaf that differs; for `create` and `delete`,
    the non-null leaves of the side that exists. At most DIFF_MAX_ATTRIBUTES
    attributes, sorted by path, each value cut to DIFF_MAX_VALUE_CHARS.
    """
    change = item.get("change") or {}
    before, bs = change.get("before"), change.get("before_sensitive")
    after, as_, au = change.get("after"), change.get("after_sensitive"), change.get("after_unknown")
    if action == "create":
        before, bs = None, False
    elif action == "delete":
        after, as_, au = None, False, False
    found: list[_Found] = []
    _walk(before, after, bs, as_, au, (), 0, found)
    found.sort(key=lambda f: _sort_key(f.parts))
    truncated = len(found) > DIFF_MAX_ATTRIBUTES
    attributes = []
    for f in found[:DIFF_MAX_ATTRIBUTES]:
        attr, cut = _render_found(f)
        attributes.append(attr)
        truncated = truncated or cut
    replace_paths: list[str] = []
    if action == "replace":
        replace_paths, cut = _replace_paths(change.get("replace_paths"))
        truncated = truncated or cut
    return ResourceChange(
        address=str(item.get("address", "?")),
        action=action,
        attributes=attributes,
        replace_paths=replace_paths,
        truncated=truncated,
    )


def bound_workspace(resources: list[ResourceChange], budget: int = DIFF_MAX_WORKSPACE_BYTES) -> bool:
    """Drop trailing attributes so the resources' JSON stays within `budget` bytes.

    Every resource keeps its address, action and replace paths. The largest diffs
    are cut first: each resource keeps the longest prefix of its attributes that
    fits under one common per-resource cap, the largest cap that fits the budget.
    Returns True if any attribute was dropped.
    """
    bases: list[int] = []
    prefixes: list[list[int]] = []
    for r in resources:
        bases.append(_json_bytes(r.model_copy(update={"attributes": []})))
        # +1 per attribute for its separating comma: slightly over, never under.
        prefixes.append([0, *accumulate(_json_bytes(a) + 1 for a in r.attributes)])
    overhead = sum(bases) + len(resources) + 1  # commas and brackets of the list

    def kept(cap: int) -> list[int]:
        return [bisect.bisect_right(p, cap) - 1 for p in prefixes]

    def total(cap: int) -> int:
        return overhead + sum(p[k] for p, k in zip(prefixes, kept(cap), strict=True))

    low, high = 0, max((p[-1] for p in prefixes), default=0)
    if total(high) <= budget:
        return False
    while low < high:  # the largest cap whose total fits
        mid = (low + high + 1) // 2
        if total(mid) <= budget:
            low = mid
        else:
            high = mid - 1
    dropped = False
    for r, k in zip(resources, kept(low), strict=True):
        if k < len(r.attributes):
            r.attributes = r.attributes[:k]
            r.truncated = True
            dropped = True
    return dropped


def _walk(
    before: Any, after: Any, bs: Any, as_: Any, au: Any, parts: tuple[Key, ...], depth: int, out: list[_Found]
) -> None:
    """Collect the nodes where before and after differ, descending through containers."""

    def found(mask_both: bool = False) -> None:
        out.append(_Found(parts, before, bs, after, as_, au, depth, mask_both))

    # At the root a whole-object mark is pushed down, so the changed attributes still show.
    if parts and (bs is True or as_ is True):
        same = au is not True and not _differs(before, after)
        if same and (before is None or (bs is True and as_ is True)):
            return
        # With an unchanged value, showing the non-sensitive side would reveal the other.
        found(mask_both=same)
        return
    if parts and au is True:
        found()
        return
    if depth >= MAX_DEPTH:
        if _differs(before, after):
            found()
        return
    keys = _child_keys(before, after, au)
    if not keys:  # a leaf, values of different shapes, or empty containers
        if _differs(before, after):
            found()
        return
    for k in keys:
        child = (*parts, k)
        _walk(_get(before, k), _get(after, k), _child(bs, k), _child(as_, k), _child(au, k), child, depth + 1, out)


def _child_keys(before: Any, after: Any, unknown: Any) -> list[Key]:
    """The keys or indexes to descend into; none unless both sides are alike containers (or null)."""
    sides = (before, after)
    if all(v is None or isinstance(v, dict) for v in sides) and any(isinstance(v, dict) for v in (*sides, unknown)):
        unknown_keys = unknown if isinstance(unknown, dict) else {}
        return list(dict.fromkeys([*(before or {}), *(after or {}), *unknown_keys]))
    if all(v is None or isinstance(v, list) for v in sides) and any(isinstance(v, list) for v in (*sides, unknown)):
        unknown_items = unknown if isinstance(unknown, list) else []
        return list(range(max(len(before or []), len(after or []), len(unknown_items))))
    return []


def _get(value: Any, key: Key) -> Any:
    if isinstance(value, dict):
        return value.get(key)
    if isinstance(value, list) and isinstance(key, int) and key < len(value):
        return value[key]
    return None


def _child(marks: Any, key: Key) -> Any:
    """The sensitive/unknown marks of `key` below a node marked `marks`."""
    if marks is True:
        return True
    if not marks:
        return False
    if isinstance(marks, dict) and isinstance(key, str):
        return marks.get(key, False)
    if isinstance(marks, list) and isinstance(key, int):
        return marks[key] if key < len(marks) else False
    # Marks shaped unlike the value: assume the worst.
    return True


def _differs(before: Any, after: Any) -> bool:
    try:
        return bool(before != after)
    except RecursionError:
        return True


def _mask(value: Any, sensitive: Any, unknown: Any, depth: int) -> Any:
    """A copy of `value` with sensitive nodes as `(sensitive)`, unknown ones as `(known after apply)`."""
    if sensitive is True:
        return SENSITIVE
    if unknown is True:
        return UNKNOWN_AFTER_APPLY
    if not sensitive and not unknown:
        return value
    if depth >= MAX_DEPTH:
        return SENSITIVE if sensitive else value
    if isinstance(value, dict):
        keys = dict.fromkeys([*value, *(unknown if isinstance(unknown, dict) else {})])
        return {k: _mask(value.get(k), _child(sensitive, k), _child(unknown, k), depth + 1) for k in keys}
    if isinstance(value, list):
        length = max(len(value), len(unknown) if isinstance(unknown, list) else 0)
        return [_mask(_get(value, i), _child(sensitive, i), _child(unknown, i), depth + 1) for i in range(length)]
    if sensitive:  # marks of a container on a scalar: assume the worst
        return SENSITIVE
    return UNKNOWN_AFTER_APPLY if value is None else value


def _display(value: Any) -> tuple[Any, bool]:
    """A JSON scalar no longer than DIFF_MAX_VALUE_CHARS, and whether it was cut."""
    if value is None or isinstance(value, bool):
        return value, False
    if isinstance(value, str):
        return _cut(value)
    if isinstance(value, int | float):
        text = json.dumps(value)
        return (value, False) if len(text) <= DIFF_MAX_VALUE_CHARS else _cut(text)
    try:
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):
        return _ELLIPSIS, True
    return _cut(text)


def _cut(text: str) -> tuple[str, bool]:
    if len(text) <= DIFF_MAX_VALUE_CHARS:
        return text, False
    return text[: DIFF_MAX_VALUE_CHARS - len(_ELLIPSIS)] + _ELLIPSIS, True


def _render_found(f: _Found) -> tuple[AttributeChange, bool]:
    if f.mask_both:
        return AttributeChange(path=_dotted(f.parts), before=SENSITIVE, after=SENSITIVE), False
    before, cut_before = _display(_mask(f.before, f.before_sensitive, False, f.depth))
    after, cut_after = _display(_mask(f.after, f.after_sensitive, f.after_unknown, f.depth))
    return AttributeChange(path=_dotted(f.parts), before=before, after=after), cut_before or cut_after


def _replace_paths(raw: Any) -> tuple[list[str], bool]:
    paths = [p for p in raw or [] if isinstance(p, list)]
    out = [_cut(_dotted(p))[0] for p in paths[:DIFF_MAX_ATTRIBUTES]]
    cut = len(paths) > DIFF_MAX_ATTRIBUTES or any(len(_dotted(p)) > DIFF_MAX_VALUE_CHARS for p in paths)
    return out, cut


def _dotted(parts: tuple[Key, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in parts)


def _sort_key(parts: tuple[Key, ...]) -> tuple[tuple[int, int, str], ...]:
    # Indexes sort as numbers: ingress.2 before ingress.10.
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in parts)


def _json_bytes(model: AttributeChange | ResourceChange) -> int:
    return len(model.model_dump_json().encode())
