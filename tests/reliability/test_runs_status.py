"""`tfo runs` shows tfo's status, not Temporal's (issue 15, item 9).

A run that tfo reports as failed or rejected still *completes* as a workflow; `tfo
runs` used to print `completed` for it. Outside a config dir it printed nothing.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.cli_helpers import Tfo
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import write_stack


def statuses(tfo: Tfo, config: Path, state: Path) -> dict[str, str]:
    listed = tfo.run("runs", config, "--json", "--state-dir", state)
    assert listed.code == 0, listed
    return {run["run_id"]: run["status"] for run in listed.json()["runs"]}


def test_runs_shows_tfo_status_in_text_and_json(tfo: Tfo, terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve()
    good = write_stack(root / "good", [W("ok")], binary=terraform.binary)
    bad = write_stack(root / "bad", [W("ok")], binary=terraform.binary, top={"name": "bad"})
    # The same state dir for both configs, so one `tfo runs` sees every run.
    state = root / "state"

    planned = tfo.run("plan", good, "--json", "--state-dir", state)
    assert planned.code == 2, planned
    (root / "bad" / "ok" / "main.tf").write_text(W("ok", broken=True).main_tf())
    failed = tfo.run("plan", bad, "--json", "--state-dir", state)
    assert failed.code == 1, failed
    with tfo.background("apply", good, "--state-dir", state, logs=root / "waiting") as waiting:
        waiting_id = waiting.wait_for_approval()
        # Its worker (in the waiting `tfo apply`) answers the status query.
        assert statuses(tfo, good, state)[waiting_id] == "awaiting_approval"
        assert tfo.run("reject", waiting_id, "--state-dir", state).code == 0
        assert waiting.finish().code == 1
    with tfo.background("apply", good, "--state-dir", state, logs=root / "cancelled") as second:
        cancelled_id = second.wait_for_approval()
        assert tfo.run("cancel", cancelled_id, "--state-dir", state).code == 0
        second.finish()

    found = statuses(tfo, good, state)
    assert found == {
        planned.json()["run_id"]: "succeeded",
        failed.json()["run_id"]: "failed",
        waiting_id: "rejected",
        cancelled_id: "cancelled",
    }
    text = tfo.run("runs", good, "--state-dir", state)
    assert text.code == 0, text
    shown = {line.split()[0]: line.split()[1] for line in text.stdout.splitlines()}
    assert shown == found
    assert "completed" not in text.stdout


def test_runs_outside_a_config_dir_says_what_it_needs(tfo: Tfo, tmp_path: Path) -> None:
    empty = tmp_path.resolve() / "empty"
    empty.mkdir()
    tfo.cwd = empty
    result = tfo.run("runs")
    assert result.code == 1, result
    (line,) = result.stderr.splitlines()
    assert line.startswith("tfo: error: tfo runs needs") and "CONFIG" in line and "--state-dir" in line, line
    assert list(empty.iterdir()) == []  # no state dir (and no server) was started here
