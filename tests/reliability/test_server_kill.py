"""kill -9 of the embedded Temporal server in the middle of a `tfo apply`.

The server keeps its state in SQLite (WAL) in the state dir. After the kill, running
the same command again restarts the server on that db and resumes the interrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from tests.integration.cli_helpers import Tfo, assert_nothing_running, dev_servers
from tests.reliability.figures import record_figure
from tests.reliability.processes import kill_all, processes_mentioning, wait_for
from tests.reliability.stacks import counted
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import state_resources, write_stack


def test_server_killed_mid_apply_then_the_same_command_resumes_the_run(tfo: Tfo, terraform, tmp_path: Path):
    root = tmp_path.resolve()
    stack = root / "stack"
    config = write_stack(stack, [W("slow"), W("after", depends_on=["slow"])], binary=terraform.binary)
    counter = root / "creations.log"
    (stack / "slow" / "main.tf").write_text(counted("slow", counter, sleep=20, first_only=True))
    state = stack / ".tfo"
    try:
        with tfo.background("apply", config, "--auto-approve", "--json", logs=root / "first") as first:
            log = wait_for("the slow apply", lambda: next((state / "runs").glob("*/slow/apply.log"), None))
            wait_for("terraform provisioning", lambda: "Provisioning with 'local-exec'" in log.read_text())
            run_id = log.parent.parent.name
            server = json.loads((state / "server" / "server.json").read_text())["pid"]
            os.kill(server, signal.SIGKILL)
            killed_at = time.monotonic()
            interrupted = first.finish()
        # The first command lost its server: one clear line, exit 1, no traceback, and
        # stdout (where --json prints its document) stays clean of the SDK's own warnings.
        assert interrupted.code == 1, interrupted
        assert interrupted.stdout == "", interrupted
        (error,) = [line for line in interrupted.stderr.splitlines() if line.startswith("tfo: error: ")]
        assert error.startswith("tfo: error: lost the Temporal server while following run"), interrupted
        assert f"tfo resume {run_id}" in error
        assert "unexpected error" not in interrupted.stderr
        second = tfo.run("apply", config, "--auto-approve", "--json", idle=state)
        record_figure(
            "kill -9 embedded server mid-apply: seconds from the kill to the resumed run's end",
            time.monotonic() - killed_at,
        )
    finally:
        kill_all(processes_mentioning(str(stack)))
    assert second.code == 0, second
    assert f"resuming interrupted run {run_id}" in second.stderr, second
    doc = second.json()
    assert doc["run_id"] == run_id and doc["status"] == "succeeded", doc
    assert state_resources(stack / "slow") == ["null_resource.slow"]
    assert state_resources(stack / "after") == ["null_resource.after"]
    assert dev_servers(state) == []
    assert_nothing_running(state)
