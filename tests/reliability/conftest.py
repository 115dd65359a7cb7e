"""Fixtures of the reliability suite, and the figures it measures.

Tests record figures (time to resume, fuzz cases run, canary hits, events per
execution) with `record_figure`; they are printed at the end of the session and
written to .tfo-dev/reliability-figures.json, from which RELIABILITY.md is kept.
Figures are measurements, never pass/fail criteria.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli_helpers import Tfo, kill_dev_servers
from tests.reliability.figures import FIGURES, figures_path


@pytest.fixture
def tfo(tmp_path: Path, terraform) -> Iterator[Tfo]:  # type: ignore[no-untyped-def]
    """The real `tfo` console script, embedded mode, everything under tmp_path."""
    root = tmp_path.resolve()
    try:
        yield Tfo(root, cwd=root)
    finally:
        # Only a failed test can leave one; it has already been reported by then.
        kill_dev_servers(root)


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: hand the figures to the controller
        workeroutput["tfo_reliability_figures"] = json.dumps(FIGURES)


if importlib.util.find_spec("xdist") is not None:

    def pytest_testnodedown(node: Any, error: object) -> None:
        FIGURES.update(json.loads(getattr(node, "workeroutput", {}).get("tfo_reliability_figures", "{}")))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, value in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{name}: {value}")
    terminalreporter.write_line(f"(also in {figures_path()})")
