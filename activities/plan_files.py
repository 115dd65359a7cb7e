"""Files of a saved plan and its apply: the markers that name their plan, the state
version a plan was made against, and tidying a plan-only run's directories."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path


def marker_plan(path: Path) -> str | None:
    """The plan SHA-256 an apply marker was written for, if the marker exists."""
    try:
        return str(json.loads(path.read_text()).get("plan_sha256"))
    except (OSError, ValueError, AttributeError):
        return None


def state_version(text: str) -> tuple[str, int] | None:
    """A state's (lineage, serial); ("", 0) for no state; None if it cannot be read."""
    if not text.strip():
        return ("", 0)
    try:
        data = json.loads(text)
        return (str(data.get("lineage") or ""), int(data.get("serial") or 0))
    except (ValueError, TypeError, AttributeError):
        return None


def planned_state_version(plan_file: Path) -> tuple[str, int] | None:
    """The (lineage, serial) of the state a saved plan was made against, if it records one."""
    try:
        with zipfile.ZipFile(plan_file) as archive:
            text = archive.read("tfstate").decode(errors="replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return None
    return state_version(text)


def project_path() -> str:
    here = str(Path(__file__).resolve().parent.parent)
    existing = os.environ.get("PYTHONPATH")
    return f"{here}{os.pathsep}{existing}" if existing else here


def remove_empty(run_dir: Path, *, levels: int = 2) -> None:
    """Drop a plan-only run's now empty directories (`levels` of them, from `run_dir`
    up), so drift checks leave no litter."""
    for path in (run_dir, run_dir.parent)[:levels]:
        try:
            path.rmdir()
        except OSError:
            return
