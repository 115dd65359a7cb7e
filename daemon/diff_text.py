"""Attribute-level plan diffs as readable text, in the spirit of terraform's plan output.

web
  ~ aws_security_group.web
      ~ tags.owner: "alice" -> "bob"
  -/+ aws_instance.app
      ~ ami: "ami-1" -> "ami-2"  # forces replacement
"""

from __future__ import annotations

from typing import Any

from tfo.config.payloads import ResourceChange
from tfo.config.plan_models import ACTION_SYMBOLS, shown_value

GREEN = "\033[32m"
RED = "\033[31m"
YELLOW = "\033[33m"
RESET = "\033[0m"

_COLORS = {"+": GREEN, "-": RED, "~": YELLOW}

DEFAULT_MORE_HINT = "tfo show RUN_ID"

WorkspaceDiff = tuple[list[ResourceChange], list[ResourceChange], list[str]]


def render_resources(
    resources: list[ResourceChange],
    *,
    color: bool,
    indent: str = "  ",
    more_hint: str = DEFAULT_MORE_HINT,
) -> list[str]:
    """One header line per resource, then one line per changed attribute.

    Args:
        resources: the resources to render, in the order given.
        color: colour the action symbols with ANSI escapes.
        indent: the prefix of each header line; attributes are indented further.
        more_hint: where the full diff is, named when a resource's diff was truncated.
    """
    lines: list[str] = []
    attr_indent = indent + "    "
    for resource in resources:
        symbol = ACTION_SYMBOLS.get(resource.action, "?")
        lines.append(f"{indent}{_paint(symbol, color)} {resource.address}")
        forcing = set(resource.replace_paths)
        for attr in resource.attributes:
            line = f"{attr_indent}{_attribute(resource.action, attr.path, attr.before, attr.after, color)}"
            if attr.path in forcing or any(attr.path.startswith(p + ".") for p in forcing):
                line += "  " + _paint_text("# forces replacement", RED, color)
            lines.append(line)
        if resource.truncated:
            lines.append(f"{attr_indent}# ... more attributes: {more_hint}")
    return lines


def render_workspaces(
    workspaces: dict[str, WorkspaceDiff],
    *,
    color: bool,
    max_lines: int | None,
    more_hint: str,
) -> str:
    """Each workspace's changes, drift and changing outputs, cut to `max_lines` lines.

    Args:
        workspaces: per workspace name, (resource changes, drift, names of changing outputs).
        color: colour the action symbols with ANSI escapes.
        max_lines: the most lines to return, including the closing hint; None for all.
        more_hint: where the rest is, e.g. `tfo show RUN_ID`.
    """
    lines: list[str] = []
    for name in sorted(workspaces):
        resources, drift, outputs = workspaces[name]
        lines.append(name)
        if not (resources or drift or outputs):
            lines.append("  no changes")
        lines.extend(render_resources(resources, color=color, more_hint=more_hint))
        if drift:
            lines.append("  Changed outside terraform:")
            lines.extend(render_resources(drift, color=color, indent="    ", more_hint=more_hint))
        if outputs:
            lines.append("  Changes to outputs:")
            lines.extend(f"    {_paint('~', color)} {output}" for output in outputs)
    if max_lines is not None and len(lines) > max_lines:
        kept = max(max_lines - 1, 0)
        lines = [*lines[:kept], f"... {len(lines) - kept} more lines: {more_hint}"]
    return "\n".join(lines)


def _attribute(action: str, path: str, before: Any, after: Any, color: bool) -> str:
    if action == "create" or (before is None and after is not None):
        return f"{_paint('+', color)} {path}: {shown_value(after)}"
    if action == "delete" or (after is None and before is not None):
        return f"{_paint('-', color)} {path}: {shown_value(before)}"
    return f"{_paint('~', color)} {path}: {shown_value(before)} -> {shown_value(after)}"


def _paint(symbol: str, color: bool) -> str:
    if not color:
        return symbol
    return "/".join(_paint_text(part, _COLORS[part], color) if part in _COLORS else part for part in symbol.split("/"))


def _paint_text(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{RESET}" if color else text
