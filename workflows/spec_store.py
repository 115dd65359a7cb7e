"""A big run's workspace specs, kept as JSON in the run's memory (used by segments).

A spec as pydantic objects takes about 3.5 KB; its JSON about 350 bytes. A run of
10,000 workspaces splits itself into segments from each spec's outline (its
upstreams and its size), and rebuilds the objects of one segment's specs at a time,
for that segment's request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tfo.config.payloads import WorkspaceSpec


@dataclass(frozen=True, slots=True)
class Outline:
    """What splitting a run reads of one spec."""

    depends_on: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]  # the (workspace, output) each input reads
    size: int  # of its JSON, which a segment's request carries


class SpecStore:
    def __init__(self) -> None:
        self._json: dict[str, str] = {}
        self.outlines: dict[str, Outline] = {}

    @classmethod
    def of(cls, specs: Iterable[WorkspaceSpec]) -> SpecStore:
        store = cls()
        store.add(specs)
        return store

    def add(self, specs: Iterable[WorkspaceSpec]) -> None:
        for spec in specs:
            text = spec.model_dump_json()
            self._json[spec.name] = text
            self.outlines[spec.name] = Outline(
                depends_on=tuple(spec.depends_on),
                sources=tuple((m.source_workspace, m.source_output) for m in spec.inputs),
                size=len(text),
            )

    def names(self) -> list[str]:
        return list(self._json)

    def specs(self, names: Iterable[str]) -> list[WorkspaceSpec]:
        return [WorkspaceSpec.model_validate_json(self._json[name]) for name in names]
