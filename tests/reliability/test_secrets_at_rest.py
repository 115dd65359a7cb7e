"""Secrets at rest (issue 15, item 6).

A saved plan holds every input variable in clear text. Whatever way a run ends
(failed, interrupted, rejected, applied) no `.tfplan` stays in the state dir, and no
empty run dir piles up; while a plan is kept it is 0600 in 0700 dirs. Crash logs go
to a private dir, are created exclusively, and never through a symlink.
"""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

from tests.integration.cli_helpers import Tfo
from tests.reliability.figures import record_figure
from tests.reliability.processes import in_own_group, wait_for
from tests.reliability.stacks import failing_stack, many_resources
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import write_stack

# Loaded by the tfo process at start (sitecustomize): `tfo schema` then fails unexpectedly.
CRASH = """\
import tfo.daemon.commands.schema as m


def boom():
    raise RuntimeError("injected fault")


m.schema = boom
"""


def saved_plans(state: Path) -> list[Path]:
    return sorted(state.rglob("*.tfplan"))


def run_dirs(state: Path) -> list[Path]:
    runs = state / "runs"
    return sorted(runs.iterdir()) if runs.is_dir() else []


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_failed_plan_leaves_no_saved_plan(tfo: Tfo, terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve()
    config = failing_stack(root / "stack", terraform.binary)
    state = root / "stack" / ".tfo"
    result = tfo.run("plan", config, idle=state)
    assert result.code == 1, result
    assert saved_plans(state) == [] and run_dirs(state) == []
    assert mode(state / "runs") == 0o700


def test_an_interrupted_plan_leaves_no_saved_plan(tfo: Tfo, terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve()
    config = write_stack(root / "stack", [W("big")], binary=terraform.binary)
    (root / "stack" / "big" / "main.tf").write_text(many_resources(1500))
    state = root / "stack" / ".tfo"
    lock_info = root / "stack" / "big" / ".terraform.tfstate.lock.info"
    with in_own_group(tfo, "plan", config, logs=root / "logs") as proc:
        wait_for("terraform's plan", lambda: lock_info.exists() or proc.poll() is not None)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=120) == 130
    assert saved_plans(state) == [] and run_dirs(state) == []


def test_kept_plans_are_private_and_gone_when_the_run_ends(tfo: Tfo, terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve()
    config = write_stack(root / "stack", [W("one"), W("two", depends_on=["one"])], binary=terraform.binary)
    state = root / "stack" / ".tfo"
    with tfo.background("apply", config, logs=root / "rejected") as waiting:
        run_id = waiting.wait_for_approval()
        plans = saved_plans(state)
        assert [p.parent.name for p in plans] == ["one", "two"]
        private = [state / "runs", state / "runs" / run_id, *(p.parent for p in plans)]
        assert {mode(d) for d in private} == {0o700}, {str(d): oct(mode(d)) for d in private}
        assert {mode(p) for p in plans} == {0o600}
        assert tfo.run("reject", run_id).code == 0
        assert waiting.finish().code == 1
    assert saved_plans(state) == [] and run_dirs(state) == []
    applied = tfo.run("apply", config, "--auto-approve", idle=state)
    assert applied.code == 0, applied
    assert saved_plans(state) == [] and run_dirs(state) == []
    record_figure("secrets at rest: saved plans left after failed, interrupted, rejected and applied runs", 0)


def _crash(tfo: Tfo, root: Path) -> tuple[int, str]:
    hook = root / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(CRASH)  # a fault injected into the real process
    tfo.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), tfo.env.get("PYTHONPATH")]))
    result = tfo.run("schema")
    return result.code, result.stderr


def test_crash_logs_are_private(tfo: Tfo, tmp_path: Path) -> None:
    root = tmp_path.resolve()
    tfo.env.pop("TFO_LOG_DIR")  # the default: under XDG_STATE_HOME, never a shared /tmp path
    code, stderr = _crash(tfo, root)
    assert code == 3, stderr
    (line,) = stderr.splitlines()
    path = Path(line.rsplit(" ", 1)[1])
    assert path.parent == root / "xdg" / "tfo" / "logs", line
    assert mode(path.parent) == 0o700 and mode(path) == 0o600
    assert "injected fault" in path.read_text()


def test_a_crash_log_dir_that_is_a_symlink_is_refused(tfo: Tfo, tmp_path: Path) -> None:
    root = tmp_path.resolve()
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    (root / "logs").mkdir()
    (root / "logs" / "tfo").symlink_to(elsewhere)  # TFO_LOG_DIR/tfo, planted by someone else
    code, stderr = _crash(tfo, root)
    assert code == 3, stderr
    (line,) = stderr.splitlines()
    assert "no crash log written" in line and "symlink" in line, line
    assert list(elsewhere.iterdir()) == []
