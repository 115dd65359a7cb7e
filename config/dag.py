"""The workspace dependency graph, on `graphlib.TopologicalSorter`.

Everything here is pure and deterministic (sorted outputs), so workflow code may
use it too.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping

from tfo.config.errors import DependencyCycleError


class Dag:
    """An immutable DAG of workspace names.

    Args:
        edges: Each workspace name mapped to the names it depends on.

    Raises:
        DependencyCycleError: the edges contain a cycle.
        KeyError: a dependency names an unknown node.
    """

    def __init__(self, edges: Mapping[str, Iterable[str]]) -> None:
        self._deps: dict[str, tuple[str, ...]] = {
            name: tuple(sorted(set(deps))) for name, deps in sorted(edges.items())
        }
        for name, deps in self._deps.items():
            for dep in deps:
                if dep not in self._deps:
                    raise KeyError(f"{name} depends on unknown {dep}")
        self._order = self._topological_order()
        self._depth = self._compute_depths()

    def _topological_order(self) -> list[str]:
        sorter = graphlib.TopologicalSorter(self._deps)
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            # graphlib lists each node before the nodes that depend on it; show the
            # cycle in "depends on" direction, starting at the smallest name.
            cycle = list(reversed(exc.args[1]))[:-1]
            start = cycle.index(min(cycle))
            cycle = cycle[start:] + cycle[:start]
            raise DependencyCycleError(
                "cycle: " + " -> ".join([*cycle, cycle[0]])
            ) from None
        order: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            order.extend(ready)
            sorter.done(*ready)
        return order

    def _compute_depths(self) -> dict[str, int]:
        depth: dict[str, int] = {}
        for name in self._order:
            deps = self._deps[name]
            depth[name] = 1 + max((depth[d] for d in deps), default=-1)
        return depth

    @property
    def names(self) -> list[str]:
        """All nodes in a deterministic topological order."""
        return list(self._order)

    def dependencies(self, name: str) -> tuple[str, ...]:
        """Direct dependencies, sorted."""
        return self._deps[name]

    def dependents(self, name: str) -> list[str]:
        """Direct dependents, sorted."""
        return sorted(n for n, deps in self._deps.items() if name in deps)

    def depth(self, name: str) -> int:
        """Length of the longest path from a root (roots have depth 0)."""
        return self._depth[name]

    def ancestors(self, name: str) -> set[str]:
        """Every direct and transitive dependency of `name`."""
        seen: set[str] = set()
        stack = list(self._deps[name])
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(self._deps[node])
        return seen

    def descendants(self, name: str) -> set[str]:
        """Every workspace that depends on `name`, directly or transitively."""
        seen: set[str] = set()
        stack = self.dependents(name)
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(self.dependents(node))
        return seen

    def closure(self, selection: Iterable[str]) -> list[str]:
        """The selection plus everything it depends on, in topological order."""
        wanted: set[str] = set()
        for name in selection:
            if name not in self._deps:
                raise KeyError(name)
            wanted.add(name)
            wanted |= self.ancestors(name)
        return [n for n in self._order if n in wanted]

    def subgraph(self, selection: Iterable[str]) -> Dag:
        """The DAG restricted to `closure(selection)`."""
        keep = set(self.closure(selection))
        return Dag({n: [d for d in self._deps[n] if d in keep] for n in keep})

    def ready(self, succeeded: Iterable[str], started: Iterable[str]) -> list[str]:
        """Sorted names not yet started whose dependencies all succeeded."""
        ok = set(succeeded)
        begun = set(started)
        return [
            n
            for n in self._order
            if n not in begun and all(d in ok for d in self._deps[n])
        ]

    def by_depth(self) -> list[str]:
        """Names sorted by depth, then by name."""
        return sorted(self._order, key=lambda n: (self._depth[n], n))
