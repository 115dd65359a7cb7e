"""`tfo graph`: print the workspace DAG as text, mermaid, dot or JSON."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

from tfo.config.dag import Dag
from tfo.config.loader import load_config


class GraphFormat(StrEnum):
    TEXT = "text"
    MERMAID = "mermaid"
    DOT = "dot"
    JSON = "json"


def graph(config_path: Path, *, fmt: GraphFormat) -> int:
    dag = load_config(config_path).dag
    render = {
        GraphFormat.TEXT: _text,
        GraphFormat.MERMAID: _mermaid,
        GraphFormat.DOT: _dot,
        GraphFormat.JSON: _json,
    }[fmt]
    print(render(dag))
    return 0


def _json(dag: Dag) -> str:
    return json.dumps(
        {
            "workspaces": [
                {"name": n, "dependsOn": list(dag.dependencies(n)), "depth": dag.depth(n)} for n in dag.by_depth()
            ]
        }
    )


def _text(dag: Dag) -> str:
    lines = []
    for name in dag.by_depth():
        deps = dag.dependencies(name)
        arrow = f"  <- {', '.join(deps)}" if deps else ""
        lines.append(f"{'  ' * dag.depth(name)}{name}{arrow}")
    return "\n".join(lines)


def _mermaid(dag: Dag) -> str:
    lines = ["graph TD"]
    ids = {name: f"w{i}" for i, name in enumerate(dag.by_depth())}
    for name, node in ids.items():
        lines.append(f'  {node}["{name}"]')
    for name in dag.by_depth():
        for dep in dag.dependencies(name):
            lines.append(f"  {ids[dep]} --> {ids[name]}")
    return "\n".join(lines)


def _dot(dag: Dag) -> str:
    lines = ["digraph tfo {", "  rankdir=LR;"]
    for name in dag.by_depth():
        lines.append(f'  "{name}";')
    for name in dag.by_depth():
        for dep in dag.dependencies(name):
            lines.append(f'  "{dep}" -> "{name}";')
    lines.append("}")
    return "\n".join(lines)
