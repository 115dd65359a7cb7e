"""No Python traceback for an expected failure (issue 15, item 4).

A terraform error (HCL syntax, `terraform validate`, a state lock held elsewhere while
tfo retries) shows up as the run's report and at most one line per event on stderr;
the SDK's "Completing activity as failed ... Traceback" goes to a private log file
whose path is printed. Checked for `tfo plan` and for `tfo daemon` running a
scheduled drift check.
"""

from __future__ import annotations

import re
import stat
import time
from pathlib import Path

from tests.integration.cli_helpers import Tfo
from tests.integration.drift_helpers import parent_runs, running_daemon
from tests.reliability.figures import record_figure
from tests.reliability.processes import GIVE_UP, lock_holder, wait_for
from tests.reliability.stacks import failing_stack
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import write_stack

NOISE = ("Traceback", "Completing activity as failed", "Error acquiring the state lock")
_DETAILS = re.compile(r"details of worker warnings and errors: (\S+)")


def assert_quiet(stderr: str) -> None:
    for noise in NOISE:
        assert noise not in stderr, f"{noise!r} on stderr:\n{stderr}"


def details_file(stderr: str) -> Path:
    match = _DETAILS.search(stderr)
    assert match, f"no log file path on stderr:\n{stderr}"
    path = Path(match.group(1))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    return path


def test_plan_with_terraform_errors_prints_no_traceback(tfo: Tfo, terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve()
    config = failing_stack(root / "stack", terraform.binary)
    result = tfo.run("plan", config)
    assert result.code == 1, result
    assert_quiet(result.stderr)
    assert "hcl: failed" in result.stderr and "undeclared: failed" in result.stderr, result
    assert "main.tf line 3" in result.stdout and "nope" in result.stdout, result
    # The details are kept, with the tracebacks, in the file whose path was printed.
    log = details_file(result.stderr).read_text()
    assert "Completing activity as failed" in log and "Traceback" in log
    record_figure("quiet failures: stderr lines of a plan with 2 failing workspaces", len(result.stderr.splitlines()))


def test_lock_retries_stay_off_stderr(tfo: Tfo, terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve()
    config = write_stack(root / "stack", [W("locked")], binary=terraform.binary, settings={"lock_timeout": "0s"})
    assert tfo.run("apply", config, "--auto-approve").code == 0
    (root / "stack" / "locked" / "main.tf").write_text(W("locked", trigger="v2").main_tf())
    logs = root / "logs" / "tfo"
    with tfo.background("plan", config, logs=root / "plan") as planning:
        # Held until tfo has retried at least once, then released: the next attempt plans.
        with lock_holder(root / "stack" / "locked" / "terraform.tfstate", GIVE_UP):
            wait_for("a failed attempt on the held lock", lambda: _logged(logs, "Error acquiring the state lock"))
        result = planning.finish()
    assert result.code == 2, result  # the retry after the lock was released planned the change
    assert_quiet(result.stderr)
    log = details_file(result.stderr).read_text()
    assert "Error acquiring the state lock" in log  # the retried attempts are in the file


def test_daemon_logs_one_line_per_failure(tfo: Tfo, terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve()
    config = failing_stack(root / "stack", terraform.binary, schedules=[{"name": "drift", "every": "1h"}])
    state = root / "stack" / ".tfo"
    with running_daemon(config, root, logs=root / "daemon") as daemon:
        before = set(parent_runs(state))
        triggered = tfo.run("schedules", "trigger", config, "drift")
        assert triggered.code == 0, triggered

        def finished() -> bool:
            new = {k: v for k, v in parent_runs(state).items() if k not in before}
            return bool(new) and all(v != "RUNNING" for v in new.values())

        wait_for("the triggered drift run to end", finished)
        time.sleep(0.5)  # the log line of the last failure
        assert daemon.terminate() == 0, daemon.stderr()
        stderr = daemon.stderr()
    assert_quiet(stderr)
    failures = [line for line in stderr.splitlines() if "failed" in line]
    assert len([line for line in failures if "(hcl in tfo-plan-" in line]) == 1, stderr
    assert len([line for line in failures if "(undeclared in tfo-plan-" in line]) == 1, stderr
    assert all(len(line) <= 420 for line in stderr.splitlines()), stderr
    assert "Traceback" in details_file(stderr).read_text()


def _logged(directory: Path, text: str) -> bool:
    return any(text in path.read_text() for path in directory.glob("tfo-*.log"))
