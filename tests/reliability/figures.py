"""Figures measured by the reliability suite (and by the integration tests it relies on).

`record_figure` keeps a figure for the terminal summary (see conftest.py) and merges it
at once into .tfo-dev/reliability-figures.json, from which RELIABILITY.md is kept, so
that a figure recorded by a test outside tests/reliability is kept too. Figures are
measurements, never pass/fail criteria.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

FIGURES: dict[str, object] = {}


def figures_path() -> Path:
    return Path(__file__).resolve().parents[2] / ".tfo-dev" / "reliability-figures.json"


def record_figure(name: str, value: object) -> None:
    """Remember one measured figure under `name` (the last value wins)."""
    FIGURES[name] = round(value, 2) if isinstance(value, float) else value
    path = figures_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Test processes (pytest-xdist workers) record at once: one writer at a time.
        fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return  # a read-only checkout still runs the tests
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            known = json.loads(path.read_text())
        except (OSError, ValueError):
            known = {}
        known[name] = FIGURES[name]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except OSError:
        pass
    finally:
        os.close(fd)
