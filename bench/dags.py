"""Workspace DAG shapes: chain, fan-out, layered and seeded random.

A DAG is a dict of workspace name -> sorted list of the names it depends on. Names
are zero-padded to the same width within a DAG (`w007`; `w0007` from N = 1,001 on),
so sorting them gives a topological order.
"""

from __future__ import annotations

import random
from collections.abc import Callable

Edges = dict[str, list[str]]


def _namer(n: int) -> Callable[[int], str]:
    """Names of one DAG of `n` workspaces: at least 3 digits, all of the same width."""
    width = max(3, len(str(max(0, n - 1))))
    return lambda i: f"w{i:0{width}d}"


def chain(n: int) -> Edges:
    """w000 <- w001 <- ... : no parallelism at all."""
    _name = _namer(n)
    return {_name(i): ([_name(i - 1)] if i else []) for i in range(n)}


def fan_out(n: int) -> Edges:
    """One root, everything else depends on it only."""
    _name = _namer(n)
    return {_name(i): ([_name(0)] if i else []) for i in range(n)}


def layered(n: int, width: int = 4, *, seed: int = 7) -> Edges:
    """Layers of `width` workspaces; each depends on 1-2 workspaces of the layer above."""
    rng = random.Random(seed)
    _name = _namer(n)
    edges: Edges = {}
    previous: list[str] = []
    current: list[str] = []
    for i in range(n):
        name = _name(i)
        if previous:
            k = min(len(previous), rng.choice((1, 2)))
            edges[name] = sorted(rng.sample(previous, k))
        else:
            edges[name] = []
        current.append(name)
        if len(current) == width:
            previous, current = current, []
    return edges


def random_dag(n: int, *, seed: int = 42, p: float | None = None, max_deps: int = 3) -> Edges:
    """Each workspace depends on up to `max_deps` earlier ones, each with probability `p`."""
    rng = random.Random(seed)
    p = p if p is not None else min(1.0, 2.0 / max(1, n**0.5))
    _name = _namer(n)
    edges: Edges = {}
    for i in range(n):
        earlier = [_name(j) for j in range(i) if rng.random() < p]
        rng.shuffle(earlier)
        edges[_name(i)] = sorted(earlier[:max_deps])
    return edges


SHAPES: dict[str, Callable[[int], Edges]] = {
    "chain": chain,
    "fanout": fan_out,
    "layered": layered,
    "random": random_dag,
}


def generate(shape: str, n: int) -> Edges:
    try:
        return SHAPES[shape](n)
    except KeyError:
        raise SystemExit(f"unknown shape {shape!r}; choose from {', '.join(SHAPES)}") from None


def depth(edges: Edges) -> int:
    """The number of workspaces on the longest dependency path."""
    level: dict[str, int] = {}
    for name in sorted(edges):
        level[name] = 1 + max((level[d] for d in edges[name]), default=0)
    return max(level.values(), default=0)


def critical_path_bound(edges: Edges, seconds: dict[str, float], parallelism: int) -> float:
    """A lower bound on any schedule's makespan: max(longest path, total work / P)."""
    finish: dict[str, float] = {}
    for name in sorted(edges):
        finish[name] = seconds[name] + max((finish[d] for d in edges[name]), default=0.0)
    longest = max(finish.values(), default=0.0)
    return max(longest, sum(seconds.values()) / max(1, parallelism))
