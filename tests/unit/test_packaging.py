"""tfo installs as one `tfo` namespace, prints its version and has readable help."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tfo import __version__
from tfo.daemon.cli import app

REPO = Path(__file__).resolve().parents[2]
COMMANDS = [
    "validate", "graph", "schema", "plan", "apply", "status", "runs", "approve", "reject", "cancel",
    "resume", "worker", "daemon", "drift", "schedules", "mcp", "codec-server", "show",
]  # fmt: skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("tfo_orchestrator-*.whl")
    return built


def test_wheel_installs_only_the_tfo_namespace(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
        top_level = [n for n in names if n.endswith("top_level.txt")]
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
        if top_level:
            assert archive.read(top_level[0]).decode().split() == ["tfo"]
    assert tops == {"tfo"}
    for sub in ("config/dag.py", "activities/runner.py", "workflows/parent.py", "daemon/commands/run.py"):
        assert f"tfo/{sub}" in names
    assert "License-Expression: MIT" in metadata
    assert "Requires-Python: >=3.11" in metadata
    assert "tfo = tfo.daemon.main:main" in entry_points


def test_version_comes_from_package_metadata() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"tfo {__version__}"
    assert __version__ != "0+unknown"


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_has_no_type_markers(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert not re.search(r"<(bool|str|int|path|list\[[a-z]+\]|[a-z ]+ range)>", result.output), result.output
    assert not re.search(r"\{[a-z_-]+\}", result.output), result.output
    if command and command[0] in {"plan", "apply", "validate"}:
        assert re.search(r"--json\s{2,}\S", result.output), "a flag takes no value"
        assert f"tfo {command[0]} [OPTIONS] CONFIG" in result.output


def test_python_dash_m_tfo_runs_the_cli() -> None:
    result = subprocess.run([sys.executable, "-m", "tfo", "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"tfo {__version__}"
