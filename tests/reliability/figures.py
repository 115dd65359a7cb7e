"""Figures measured by the reliability suite (see conftest.py)."""

from __future__ import annotations

from pathlib import Path

FIGURES: dict[str, object] = {}


def record_figure(name: str, value: object) -> None:
    """Remember one measured figure under `name` (the last value wins)."""
    FIGURES[name] = round(value, 2) if isinstance(value, float) else value


def figures_path() -> Path:
    return Path(__file__).resolve().parents[2] / ".tfo-dev" / "reliability-figures.json"
