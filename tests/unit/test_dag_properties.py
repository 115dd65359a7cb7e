"""Property tests of config.dag.Dag against brute-force reference implementations,
and unit tests of config.durations."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfo.config.dag import Dag
from tfo.config.durations import format_duration, parse_duration
from tfo.config.errors import DependencyCycleError

Edges = dict[str, list[str]]

# Short names over a tiny alphabet, so that sorted order and topological order disagree.
NAMES = st.lists(
    st.text(alphabet="abcdefgh", min_size=1, max_size=3), min_size=1, max_size=9, unique=True
)


@st.composite
def dags(draw: st.DrawFn) -> Edges:
    """A random DAG: the drawn list is a random permutation, and a node may only depend on
    nodes earlier in it, so the graph is acyclic by construction."""
    names = draw(NAMES)
    edges: Edges = {name: [] for name in names}
    for j, name in enumerate(names):
        if j:
            deps = draw(st.lists(st.sampled_from(names[:j]), max_size=j))
            edges[name] = deps  # duplicates on purpose: Dag must tolerate them
    return edges


def all_paths_from(edges: Edges, node: str) -> list[list[str]]:
    """Every path that starts at `node` and follows depends-on edges to a root."""
    if not edges[node]:
        return [[node]]
    return [[node, *path] for dep in set(edges[node]) for path in all_paths_from(edges, dep)]


def brute_depth(edges: Edges, node: str) -> int:
    return max(len(path) - 1 for path in all_paths_from(edges, node))


def brute_ancestors(edges: Edges, node: str) -> set[str]:
    return {n for path in all_paths_from(edges, node) for n in path[1:]}


@settings(max_examples=200, deadline=None)
@given(dags())
def test_depths_are_longest_paths(edges: Edges) -> None:
    dag = Dag(edges)  # no cycle error

    for name in edges:
        assert dag.depth(name) == brute_depth(edges, name)
        assert dag.ancestors(name) == brute_ancestors(edges, name)
        assert dag.dependencies(name) == tuple(sorted(set(edges[name])))


@settings(max_examples=200, deadline=None)
@given(dags())
def test_names_is_a_topological_order(edges: Edges) -> None:
    dag = Dag(edges)

    order = dag.names
    assert sorted(order) == sorted(edges)
    position = {name: i for i, name in enumerate(order)}
    for name, deps in edges.items():
        for dep in deps:
            assert position[dep] < position[name]
    # Deterministic: the same graph given in another order gives the same answer.
    assert Dag(dict(reversed(list(edges.items())))).names == order
    assert dag.by_depth() == sorted(edges, key=lambda n: (brute_depth(edges, n), n))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_closure_is_selection_plus_ancestors(data: st.DataObject) -> None:
    edges = data.draw(dags())
    dag = Dag(edges)
    selection = data.draw(st.lists(st.sampled_from(sorted(edges)), unique=True))

    closure = dag.closure(selection)

    expected = set(selection).union(*(brute_ancestors(edges, s) for s in selection))
    assert set(closure) == expected
    assert closure == [n for n in dag.names if n in expected]
    sub = dag.subgraph(selection)
    assert sorted(sub.names) == sorted(expected)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_ready_is_unstarted_nodes_with_all_deps_succeeded(data: st.DataObject) -> None:
    edges = data.draw(dags())
    dag = Dag(edges)
    names = sorted(edges)
    succeeded = data.draw(st.sets(st.sampled_from(names)))
    started = succeeded | data.draw(st.sets(st.sampled_from(names)))

    ready = dag.ready(succeeded, started)

    expected = {n for n in names if n not in started and set(edges[n]) <= succeeded}
    assert set(ready) == expected
    assert len(ready) == len(expected)
    position = {name: i for i, name in enumerate(dag.names)}
    assert ready == sorted(ready, key=position.__getitem__)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_back_edge_raises_a_real_cycle(data: st.DataObject) -> None:
    edges = data.draw(dags())
    # Pick x and one of its ancestors y (or x itself), and make y depend on x.
    candidates = sorted((x, y) for x in edges for y in brute_ancestors(edges, x) | {x})
    x, y = data.draw(st.sampled_from(candidates))
    cyclic = {name: list(deps) for name, deps in edges.items()}
    cyclic[y].append(x)

    with pytest.raises(DependencyCycleError) as caught:
        Dag(cyclic)

    message = caught.value.message
    assert message.startswith("cycle: ")
    path = message.removeprefix("cycle: ").split(" -> ")
    assert len(path) >= 2
    assert path[0] == path[-1]
    for node, dep in itertools.pairwise(path):
        assert dep in cyclic[node], f"{node} does not depend on {dep} in {message}"
    assert len(set(path[:-1])) == len(path) - 1  # a simple cycle
    assert path[0] == min(path)


def test_cycle_of_three_in_depends_on_direction() -> None:
    with pytest.raises(DependencyCycleError) as caught:
        Dag({"c": ["a"], "b": ["c"], "a": ["b"], "d": ["a"]})
    assert caught.value.message == "cycle: a -> b -> c -> a"


def test_self_loop() -> None:
    with pytest.raises(DependencyCycleError) as caught:
        Dag({"a": ["a"]})
    assert caught.value.message == "cycle: a -> a"


def test_unknown_dependency_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        Dag({"a": ["b"]})


def test_dependents_and_descendants() -> None:
    dag = Dag({"vpc": [], "subnets": ["vpc"], "db": ["subnets"], "app": ["db", "vpc"]})
    assert dag.dependents("vpc") == ["app", "subnets"]
    assert dag.descendants("vpc") == {"subnets", "db", "app"}
    assert dag.descendants("app") == set()
    with pytest.raises(KeyError):
        dag.closure(["nope"])


# --- durations -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("250ms", timedelta(milliseconds=250)),
        ("1s500ms", timedelta(seconds=1, milliseconds=500)),
        ("90", timedelta(seconds=90)),
        ("1.5", timedelta(seconds=1.5)),
        ("0s", timedelta(0)),
        ("  5m  ", timedelta(minutes=5)),
        ("90m", timedelta(minutes=90)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "5 minutes", "5min", "m5", "5x", "1h 30m", "-5s", "5m30", "h", "1.5h", "5M", "s5"],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=1), "1s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(hours=4), "4h"),
        (timedelta(days=2), "2d"),
        (timedelta(days=1, seconds=1), "1d1s"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4), "1d2h3m4s"),
    ],
)
def test_format_duration(value: timedelta, expected: str) -> None:
    assert format_duration(value) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=400 * 86400))
def test_format_then_parse_round_trips(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value
