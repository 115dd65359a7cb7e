"""Ctrl-C and SIGTERM end `tfo apply` / `tfo plan` at once, with the resume hint (issue 15, item 3).

`tfo` runs in a process group of its own with a terminal (a pty) on stdin, so it asks
`Apply these changes?` as it would a human; the signal goes to the whole group, as a
terminal's Ctrl-C or a CI runner's timeout sends it. Afterwards terraform's lock must
be free: a plain `terraform plan` (no -lock-timeout) in the workspace succeeds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.cli_helpers import SDK_ABORT, Tfo
from tests.reliability.figures import record_figure
from tests.reliability.processes import in_own_group, processes_mentioning, wait_for
from tests.reliability.stacks import many_resources
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import state_resources, write_stack

PROMPT = "Apply these changes?"
HINT = "tfo: interrupted; run "
# The acceptance bound of issue 15: one signal ends the command within 10 s.
BOUND = 10.0


def signal_and_wait(proc: subprocess.Popen[bytes], signum: int) -> tuple[int, float]:
    os.killpg(proc.pid, signum)
    sent = time.monotonic()
    code = proc.wait(timeout=120)
    return code, time.monotonic() - sent


def plain_terraform_plan(binary: str, directory: Path) -> subprocess.CompletedProcess[str]:
    """terraform's own plan, with no -lock-timeout: it fails at once if the lock is held."""
    return subprocess.run(
        [binary, "plan", "-input=false", "-no-color", "-lock-timeout=0s"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def check_output(logs: Path, code: int) -> str:
    stderr = (logs / "stderr").read_text()
    assert code != SDK_ABORT, stderr
    assert code == 130, stderr
    assert HINT in stderr and "tfo resume tfo-" in stderr, stderr
    for noise in ("Traceback", "Loop", "is closed", "Fatal Python error", "sdk_core"):
        assert noise not in stderr, stderr
    return stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_one_signal_at_the_approval_prompt_ends_apply(tfo: Tfo, terraform, tmp_path: Path, signum: int) -> None:
    root = tmp_path.resolve()
    config = write_stack(root / "stack", [W("gate")], binary=terraform.binary)
    logs = root / "logs-apply"
    with in_own_group(tfo, "apply", config, logs=logs) as proc:
        wait_for("the approval prompt", lambda: PROMPT in (logs / "stderr").read_text() or proc.poll() is not None)
        assert proc.poll() is None, (logs / "stderr").read_text()
        code, seconds = signal_and_wait(proc, signum)
    stderr = check_output(logs, code)
    name = signal.Signals(signum).name
    record_figure(f"signals: {name} at the approval prompt, seconds to exit", seconds)
    assert seconds < BOUND, stderr
    assert state_resources(root / "stack" / "gate") == []  # nothing was applied
    assert plain_terraform_plan(terraform.binary, root / "stack" / "gate").returncode == 0


@pytest.mark.parametrize("command", ["apply", "plan"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_one_signal_during_a_plan_stops_terraform_and_frees_its_lock(
    tfo: Tfo, terraform, tmp_path: Path, signum: int, command: str
) -> None:
    root = tmp_path.resolve()
    config = write_stack(root / "stack", [W("big")], binary=terraform.binary)
    ws = root / "stack" / "big"
    (ws / "main.tf").write_text(many_resources(1500))
    lock_info = ws / ".terraform.tfstate.lock.info"
    logs = root / "logs-plan"
    with in_own_group(tfo, command, config, logs=logs) as proc:
        # terraform writes the lock info while it holds the state lock: the plan is under way.
        wait_for("terraform's plan to take the lock", lambda: lock_info.exists() or proc.poll() is not None)
        assert proc.poll() is None, (logs / "stderr").read_text()
        code, seconds = signal_and_wait(proc, signum)
    stderr = check_output(logs, code)
    name = signal.Signals(signum).name
    record_figure(
        f"signals: {name} during the plan of `tfo {command}`, seconds to exit (terraform's stop included)", seconds
    )
    assert seconds < BOUND, stderr
    assert PROMPT not in stderr
    assert not lock_info.exists(), "terraform did not release its lock"
    assert processes_mentioning(str(root / "stack" / ".tfo" / "runs")) == {}, "terraform still runs"
    replan = plain_terraform_plan(terraform.binary, ws)
    assert replan.returncode == 0, replan.stderr
