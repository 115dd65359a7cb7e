"""Figures measured by the reliability suite (and by the integration tests it relies on).

`record_figure` keeps a figure for the terminal summary (see conftest.py) and merges it
at once into .tfo-dev/reliability-figures.json, from which RELIABILITY.md is kept, so
that a figure recorded by a test outside tests/reliability is kept too. Figures are
measurements, never pass/fail criteria.
"""

from __future__ import annotations

import json
from pathlib import Path

FIGURES: dict[str, object] = {}


def figures_path() -> Path:
    return Path(__file__).resolve().parents[2] / ".tfo-dev" / "reliability-figures.json"


def record_figure(name: str, value: object) -> None:
    """Remember one measured figure under `name` (the last value wins)."""
    FIGURES[name] = round(value, 2) if isinstance(value, float) else value
    path = figures_path()
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    known[name] = FIGURES[name]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")
    except OSError:
        pass  # a read-only checkout still runs the tests
