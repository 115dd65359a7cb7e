"""`tfo graph` in every format, and `tfo schema`, through the real CLI in-process."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from tfo.daemon.main import run

# A diamond plus a tail, listed out of order, with names that do not sort topologically.
CONFIG = textwrap.dedent("""
    workspaces:
      - name: dns
        dir: .
        dependsOn: [app]
      - name: app
        dir: .
        dependsOn: [subnets, database]
      - name: database
        dir: .
        dependsOn: [subnets]
      - name: subnets
        dir: .
        dependsOn: [vpc]
      - name: vpc
        dir: .
      - name: audit
        dir: .
    """)

EDGES = {  # workspace -> what it depends on
    "dns": ["app"],
    "app": ["database", "subnets"],
    "database": ["subnets"],
    "subnets": ["vpc"],
    "vpc": [],
    "audit": [],
}
DEPTH = {"vpc": 0, "audit": 0, "subnets": 1, "database": 2, "app": 3, "dns": 4}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "infra.yaml"
    path.write_text(CONFIG)
    return path


def _graph(config: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> str:
    code = run(["graph", "--format", fmt, str(config)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    return out


def test_json_is_exact_and_sorted_by_depth_then_name(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _graph(config, "json", capsys)

    assert out.count("\n") == 1
    assert json.loads(out) == {
        "workspaces": [
            {"name": "audit", "dependsOn": [], "depth": 0},
            {"name": "vpc", "dependsOn": [], "depth": 0},
            {"name": "subnets", "dependsOn": ["vpc"], "depth": 1},
            {"name": "database", "dependsOn": ["subnets"], "depth": 2},
            {"name": "app", "dependsOn": ["database", "subnets"], "depth": 3},
            {"name": "dns", "dependsOn": ["app"], "depth": 4},
        ]
    }


def test_json_short_option(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["graph", "-f", "json", str(config)]) == 0
    names = [w["name"] for w in json.loads(capsys.readouterr().out)["workspaces"]]
    assert names == sorted(EDGES, key=lambda n: (DEPTH[n], n))


def test_text_has_every_node_and_edge(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _graph(config, "text", capsys)

    rows = {}
    for line in out.splitlines():
        name, _, deps = line.strip().partition("  <- ")
        rows[name] = deps.split(", ") if deps else []
        # Indented by depth, two spaces a level.
        assert line.startswith("  " * DEPTH[name] + name)
    assert rows == EDGES


def test_text_is_the_default(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["graph", str(config)]) == 0
    default = capsys.readouterr().out
    assert default == _graph(config, "text", capsys)


def test_mermaid_has_every_node_and_edge(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _graph(config, "mermaid", capsys)

    lines = out.splitlines()
    assert lines[0] == "graph TD"
    ids = {}
    edges = set()
    for line in lines[1:]:
        if node := re.fullmatch(r'\s+(\w+)\["([^"]+)"\]', line):
            ids[node.group(2)] = node.group(1)
        elif edge := re.fullmatch(r"\s+(\w+) --> (\w+)", line):
            edges.add((edge.group(1), edge.group(2)))
        else:
            pytest.fail(f"unexpected mermaid line {line!r}")
    assert set(ids) == set(EDGES)
    assert len(set(ids.values())) == len(ids)
    assert edges == {(ids[dep], ids[name]) for name, deps in EDGES.items() for dep in deps}


def test_dot_has_every_node_and_edge(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _graph(config, "dot", capsys)

    lines = out.splitlines()
    assert lines[0] == "digraph tfo {"
    assert lines[-1] == "}"
    nodes = set()
    edges = set()
    for line in lines[1:-1]:
        if node := re.fullmatch(r'\s+"([^"]+)";', line):
            nodes.add(node.group(1))
        elif edge := re.fullmatch(r'\s+"([^"]+)" -> "([^"]+)";', line):
            edges.add((edge.group(1), edge.group(2)))
        else:
            assert line.strip() == "rankdir=LR;", line
    assert nodes == set(EDGES)
    assert edges == {(dep, name) for name, deps in EDGES.items() for dep in deps}


def test_graph_of_invalid_config_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "infra.yaml"
    path.write_text(
        "workspaces:\n"
        "  - {name: a, dir: ., dependsOn: [b]}\n"
        "  - {name: b, dir: ., dependsOn: [a]}\n"
    )
    assert run(["graph", "--format", "json", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [f"tfo: error: {path}:2: cycle: a -> b -> a"]


def test_graph_rejects_unknown_format(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["graph", "--format", "png", str(config)]) == 2
    assert "png" in capsys.readouterr().err


def test_schema_is_json_with_workspaces_and_dependsOn(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["schema"]) == 0
    out, err = capsys.readouterr()
    assert err == ""

    schema = json.loads(out)

    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "workspaces" in schema["properties"]
    items = schema["properties"]["workspaces"]["items"]
    ref = items["$ref"]
    assert ref.startswith("#/$defs/")
    workspace = schema["$defs"][ref.removeprefix("#/$defs/")]
    assert "dependsOn" in workspace["properties"]
    assert "inputs" in workspace["properties"]
    assert workspace["additionalProperties"] is False
    assert "dir" in workspace["required"]
