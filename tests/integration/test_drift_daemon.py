"""The drift daemon end to end, on real components (issue 4's acceptance).

`tfo daemon` runs as a subprocess in embedded mode (its own dev server, SQLite in the
state dir), with real terraform, a real HTTP scrape of /metrics, and a local HTTP
receiver behind an apprise `json://` URL. Schedules fire every few seconds; the tests
wait for checks by polling with generous deadlines, never by timing assertions.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import Terraform
from tests.integration.cli_helpers import HANG_TIMEOUT, Tfo, assert_nothing_running, dev_servers
from tests.integration.drift_helpers import (
    AlertReceiver,
    Daemon,
    Metrics,
    parent_runs,
    running_daemon,
    schedule_intervals,
    scheduled_waits,
    wait_for,
)
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import address_actions, state_resources, write_stack
from tfo.config.loader import load_config

ACTIONS = ("create", "update", "delete", "replace")



def edit_config(config: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = yaml.safe_load(config.read_text())
    change(doc)
    config.write_text(yaml.safe_dump(doc, sort_keys=False))


def checks(m: Metrics, config: str, ws: str, result: str) -> float:
    return m.get("tfo_drift_checks_total", config=config, workspace=ws, result=result) or 0.0


def status_of(m: Metrics, config: str, ws: str) -> str | None:
    """The workspace's current check status, from the one-hot tfo_workspace_check_status gauge."""
    hot = [
        s for s in ("clean", "drifted", "errored")
        if m.get("tfo_workspace_check_status", config=config, workspace=ws, status=s) == 1
    ]
    assert len(hot) <= 1, f"{ws}: more than one status is 1: {hot}"
    return hot[0] if hot else None


def wait_for_checks(daemon: Daemon, config: str, ws: str, result: str, at_least: float) -> Metrics:
    def probe() -> Metrics | None:
        m = daemon.scrape()
        return m if checks(m, config, ws, result) >= at_least else None

    try:
        return wait_for(f"{at_least:g} {result} check(s) of {config}/{ws}", probe)
    except AssertionError as exc:
        m = daemon.scrape()
        counts = {r: checks(m, config, ws, r) for r in ("clean", "drifted", "errored")}
        raise AssertionError(f"{exc}\nchecks of {ws}: {counts}\n{daemon.diagnose()}") from None


def drift_json(tfo: Tfo, config: Path, *extra: str | Path) -> dict[str, Any]:
    result = tfo.run("drift", config, "--json", *extra)
    assert result.code == 0, result
    doc: dict[str, Any] = result.json()
    return doc


def _all_closed(state: Path) -> dict[str, str] | None:
    runs = parent_runs(state)
    assert all(s in ("RUNNING", "COMPLETED") for s in runs.values()), runs
    return runs if runs and "RUNNING" not in runs.values() else None


@contextlib.contextmanager
def schedule_paused(tfo: Tfo, config: Path, state: Path, schedule: str) -> Iterator[None]:
    """Pause a schedule and let started checks finish; unpause at the end of the block."""
    paused = tfo.run("schedules", "pause", config, schedule)
    assert paused.code == 0, paused
    wait_for("in-flight checks to finish", lambda: _all_closed(state))
    yield
    resumed = tfo.run("schedules", "unpause", config, schedule)
    assert resumed.code == 0, resumed


def stopped_cleanly(daemon: Daemon, state: Path) -> None:
    code = daemon.terminate()
    assert code == 0, f"tfo daemon exited {code}:\n{daemon.stderr()}"
    assert "Fatal Python error" not in daemon.stderr()
    assert dev_servers(state) == [], "the daemon left its embedded Temporal server running"
    assert_nothing_running(state)


def test_drift_alerted_once_survives_restart_and_resolves(tfo: Tfo, terraform: Terraform, tmp_path: Path) -> None:
    name = "drifty"
    root = tmp_path.resolve()
    stack = root / "stack"
    state = stack / ".tfo"
    with AlertReceiver().serving() as hook:
        top = {
            "name": name,
            "schedules": [{"name": "drift", "every": "3s"}],
            "alerts": {"urls": [hook.url]},
        }
        config = write_stack(stack, [W("net"), W("app")], binary=terraform.binary, top=top)
        applied = tfo.run("apply", config, "--auto-approve", idle=state)
        assert applied.code == 0, applied

        with running_daemon(config, root, logs=root / "daemon-1") as daemon:
            # 1. The schedule fires and checks every workspace. The apply was recorded
            # as one clean check, so a second one can only come from the schedule.
            for ws in ("net", "app"):
                m = wait_for_checks(daemon, name, ws, "clean", 2)
            for ws in ("net", "app"):
                assert m.get("tfo_workspace_last_check_timestamp_seconds", config=name, workspace=ws), ws
                assert m.get("tfo_workspace_drifted", config=name, workspace=ws) == 0
                assert status_of(m, name, ws) == "clean"
            listed = tfo.run("schedules", "list", config, "--json")
            assert listed.code == 0, listed
            (row,) = listed.json()["schedules"]
            assert row["synced"] and not row["paused"] and row["recent"], row
            assert hook.received() == []  # a clean first check is no transition

            # 2. An out-of-band change in one workspace, between two checks. (One that lands
            # between a check's plan and its show fails that check on terraform 1.0: see
            # test_a_state_change_between_plan_and_show_is_not_a_failed_check.)
            with schedule_paused(tfo, config, state, "drift"):
                subprocess.run(
                    [terraform.binary, "state", "rm", "null_resource.app"],
                    cwd=stack / "app", check=True, capture_output=True, timeout=HANG_TIMEOUT,
                )

            def app_drifted() -> Metrics | None:
                m = daemon.scrape()
                return m if m.get("tfo_workspace_drifted", config=name, workspace="app") == 1 else None

            m = wait_for("app to be reported drifted", app_drifted)
            assert status_of(m, name, "app") == "drifted"
            assert status_of(m, name, "net") == "clean"
            assert m.get("tfo_workspace_drifted", config=name, workspace="net") == 0
            for action in ACTIONS:
                want = 1 if action == "create" else 0
                assert m.get("tfo_workspace_resource_changes", config=name, workspace="app", action=action) == want
                assert m.get("tfo_workspace_resource_changes", config=name, workspace="net", action=action) == 0

            wait_for("the drift alert", hook.received)
            # Later checks see the same drift: no repeat.
            seen = checks(m, name, "app", "drifted")
            wait_for_checks(daemon, name, "app", "drifted", seen + 2)
            (alert,) = hook.received()
            assert alert["title"] == f"Drift detected: {name}/app"
            assert "null_resource.app" in alert["message"]
            assert "1 to create" in alert["message"]
            assert alert["type"] == "warning"
            # The run that found it, with a link into the embedded server's Temporal UI.
            assert f"run: tfo-plan-{name}-drift-" in alert["message"]
            assert f"/namespaces/default/workflows/tfo-plan-{name}-drift-" in alert["message"]
            report = drift_json(tfo, config)
            assert report["workspaces"]["app"]["status"] == "drifted"
            app_resources = address_actions(report["workspaces"]["app"]["resources"])
            assert app_resources == [{"address": "null_resource.app", "action": "create"}]
            assert report["workspaces"]["net"]["status"] == "clean"

            # 4. Stop between checks: pause the schedule, let every started run finish
            # and reach the ledger, then SIGTERM.
            paused = tfo.run("schedules", "pause", config, "drift")
            assert paused.code == 0, paused
            runs = wait_for("in-flight checks to finish", lambda: _all_closed(state))
            # Every run checks net once: the ledger has folded in every run when its
            # count of net's checks equals the number of runs.
            wait_for(
                "the ledger to record every run",
                lambda: sum(checks(daemon.scrape(), name, "net", r) for r in ("clean", "drifted", "errored"))
                == len(runs),
            )
            before = daemon.scrape().drift_gauges(name)
            stopped_cleanly(daemon, state)

        # The config, not the server, owns the schedules: keep it paused across the restart.
        edit_config(config, lambda doc: doc["schedules"][0].update(paused=True))
        with running_daemon(config, root, logs=root / "daemon-2") as daemon:
            after = daemon.scrape().drift_gauges(name)
            assert after == before, "the restarted daemon does not export the state it stopped with"
            assert after[("tfo_workspace_drifted", frozenset({("config", name), ("workspace", "app")}))] == 1

            # Resume (SIGHUP reloads the config); checks go on, no alert repeats.
            edit_config(config, lambda doc: doc["schedules"][0].update(paused=False))
            daemon.signal(signal.SIGHUP)
            seen = checks(daemon.scrape(), name, "app", "drifted")
            wait_for_checks(daemon, name, "app", "drifted", seen + 1)
            assert len(hook.received()) == 1, hook.received()

            # 3. Fix the drift with tfo apply while the daemon runs, on the same embedded server.
            fixed = tfo.run("apply", config, "--auto-approve")
            assert fixed.code == 0, fixed
            assert state_resources(stack / "app") == ["null_resource.app"]
            wait_for("the resolved alert", lambda: len(hook.received()) >= 2)

            def app_clean() -> Metrics | None:
                m = daemon.scrape()
                return m if m.get("tfo_workspace_drifted", config=name, workspace="app") == 0 else None

            m = wait_for("the drifted gauge to go back to 0", app_clean)
            assert status_of(m, name, "app") == "clean"
            assert all(
                m.get("tfo_workspace_resource_changes", config=name, workspace="app", action=a) == 0 for a in ACTIONS
            )
            seen = checks(m, name, "app", "clean")
            wait_for_checks(daemon, name, "app", "clean", seen + 1)
            titles = hook.titles()
            assert titles == [f"Drift detected: {name}/app", f"Drift resolved: {name}/app"], titles
            assert hook.received()[1]["type"] == "success"
            assert checks(daemon.scrape(), name, "app", "errored") == 0
            stopped_cleanly(daemon, state)


def test_errors_never_apply_and_schedules_reconcile(tfo: Tfo, terraform: Terraform, tmp_path: Path) -> None:
    name, other_name = "recon", "recon-other"
    root = tmp_path.resolve()
    state = root / "state"
    with AlertReceiver().serving() as hook:
        top = {
            "name": name,
            "schedules": [{"name": "a", "every": "3s"}, {"name": "b", "every": "1h"}],
            "alerts": {"urls": [hook.url]},
        }
        config = write_stack(
            root / "stack",
            [W("fresh", operations=["init", "validate", "plan", "apply"]), W("bad", broken=True)],
            binary=terraform.binary,
            top=top,
        )
        first_version = config.with_name("infra-v1.yaml")
        shutil.copy(config, first_version)
        # Another config on the same server, with a schedule of the same short name.
        other = write_stack(
            root / "other",
            [W("solo")],
            binary=terraform.binary,
            top={"name": other_name, "schedules": [{"name": "a", "every": "1h", "paused": True}]},
        )
        synced = tfo.run("schedules", "sync", other, "--state-dir", state, "--json", idle=state)
        assert synced.code == 0, synced
        # Schedules are keyed by the config's identity: its name plus a fingerprint of its path.
        config_id, other_id = load_config(config).id, load_config(other).id
        assert synced.json() == {"created": [f"tfo-sched:{other_id}:a"], "updated": [], "deleted": []}

        with running_daemon(config, root, logs=root / "daemon", state_dir=state) as daemon:
            listed = tfo.run("schedules", "list", config, "--state-dir", state, "--json")
            assert listed.code == 0, listed
            assert {r["name"]: r["synced"] for r in listed.json()["schedules"]} == {"a": True, "b": True}

            # 5 and 7: several scheduled checks of a never-applied stack with `apply` in its
            # operations, and of a workspace with an HCL error.
            wait_for_checks(daemon, name, "bad", "errored", 3)
            m = wait_for_checks(daemon, name, "fresh", "drifted", 3)
            assert status_of(m, name, "bad") == "errored"
            assert checks(m, name, "bad", "clean") == 0 and checks(m, name, "bad", "drifted") == 0
            assert m.get("tfo_workspace_drifted", config=name, workspace="bad") == 0
            assert status_of(m, name, "fresh") == "drifted"
            assert m.get("tfo_workspace_resource_changes", config=name, workspace="fresh", action="create") == 1
            assert state_resources(root / "stack" / "fresh") == [], "a scheduled check applied"

            wait_for("two alerts", lambda: len(hook.received()) >= 2)
            report = drift_json(tfo, config, "--state-dir", state)
            fresh, bad = report["workspaces"]["fresh"], report["workspaces"]["bad"]
            assert fresh["status"] == "drifted"
            assert fresh["changes"]["create"] == 1
            assert address_actions(fresh["resources"]) == [{"address": "null_resource.fresh", "action": "create"}]
            assert bad["status"] == "errored"
            assert bad["error"] and "main.tf" in bad["error"], bad
            by_title = {a["title"]: a for a in hook.received()}
            assert sorted(by_title) == [f"Drift check failed: {name}/bad", f"Drift detected: {name}/fresh"]
            assert len(hook.received()) == 2, hook.titles()
            assert by_title[f"Drift check failed: {name}/bad"]["type"] == "failure"
            assert "main.tf" in by_title[f"Drift check failed: {name}/bad"]["message"]
            assert "null_resource.fresh" in by_title[f"Drift detected: {name}/fresh"]["message"]

            # 6: remove b, add c, change a's interval; SIGHUP.
            def change(doc: dict[str, Any]) -> None:
                doc["schedules"] = [{"name": "a", "every": "4s"}, {"name": "c", "every": "2h"}]

            edit_config(config, change)
            daemon.signal(signal.SIGHUP)
            wait_for("the reload", lambda: "schedules: 1 created, 1 updated, 1 deleted" in daemon.stderr())

            listed = tfo.run("schedules", "list", config, "--state-dir", state, "--json")
            assert listed.code == 0, listed
            assert {r["name"]: r["synced"] for r in listed.json()["schedules"]} == {"a": True, "c": True}
            old = tfo.run("schedules", "list", first_version, "--state-dir", state, "--json")
            assert old.code == 0, old
            # A copy of the config at another path is another config: it owns none of these.
            assert {r["name"]: r["synced"] for r in old.json()["schedules"]} == {"a": False, "b": False}
            assert schedule_intervals(state, "tfo-sched:") == {
                f"tfo-sched:{config_id}:a": [4.0],
                f"tfo-sched:{config_id}:c": [7200.0],
                f"tfo-sched:{other_id}:a": [3600.0],
            }
            others = tfo.run("schedules", "list", other, "--state-dir", state, "--json")
            assert others.code == 0, others
            (row,) = others.json()["schedules"]
            assert row["synced"] and row["paused"], row

            # Checks go on with the new interval; still nothing applied, no alert repeated.
            seen = checks(daemon.scrape(), name, "fresh", "drifted")
            wait_for_checks(daemon, name, "fresh", "drifted", seen + 2)
            assert state_resources(root / "stack" / "fresh") == []
            assert len(hook.received()) == 2, hook.titles()
            stopped_cleanly(daemon, state)


def test_check_waits_for_a_running_apply(tfo: Tfo, terraform: Terraform, tmp_path: Path) -> None:
    name = "locky"
    root = tmp_path.resolve()
    stack = root / "stack"
    state = stack / ".tfo"
    with AlertReceiver().serving() as hook:
        top = {"name": name, "schedules": [{"name": "drift", "every": "3s"}], "alerts": {"urls": [hook.url]}}
        config = write_stack(stack, [W("slow", sleep=6)], binary=terraform.binary, top=top)
        with running_daemon(config, root, logs=root / "daemon") as daemon:
            wait_for_checks(daemon, name, "slow", "drifted", 1)

            # The apply holds the workspace for 6 s while the schedule fires every 3 s.
            waits: set[str] = set()
            with tfo.background("apply", config, "--auto-approve", "--json", logs=root / "apply") as apply:
                while apply.proc.poll() is None:
                    waits |= scheduled_waits(state, f"tfo-plan-{name}-")
                    m = daemon.scrape()
                    assert checks(m, name, "slow", "errored") == 0, drift_json(tfo, config)
                    time.sleep(0.2)
                result = apply.finish()
            assert result.code == 0, result
            assert result.json()["workspaces"]["slow"]["status"] == "succeeded"
            assert waits, "no scheduled check ever waited for the apply's lock"

            # A check after the apply finds it clean.
            m = wait_for_checks(daemon, name, "slow", "clean", 2)
            assert status_of(m, name, "slow") == "clean"
            assert checks(m, name, "slow", "errored") == 0
            report = drift_json(tfo, config)["workspaces"]["slow"]
            assert report["status"] == "clean" and report["error"] is None, report
            titles = hook.titles()
            assert titles == [f"Drift detected: {name}/slow", f"Drift resolved: {name}/slow"], titles
            stopped_cleanly(daemon, state)


def test_a_check_that_started_before_an_apply_cannot_bring_its_drift_back() -> None:
    """The race the daemon test hit: runs reach the ledger in the order they finish.

    A scheduled check plans `app` (drifted), then waits for another workspace while
    `tfo apply` fixes `app` and finishes first. Recorded last, the check used to
    announce the resolved drift as new again.
    """
    from tfo.config.drift_config import AlertsConfig
    from tfo.config.drift_models import LedgerState, RecordRun
    from tfo.config.payloads import ChangeCounts, Mode, ResourceChange, RunReport, WorkspaceReport, WorkspaceStatus
    from tfo.workflows.drift_rules import record_run

    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def at(seconds: int) -> str:
        return (t0 + timedelta(seconds=seconds)).isoformat()

    def run(run_id: str, mode: Mode, outcome: str, start: int, end: int) -> RecordRun:
        drifted = outcome == "changes"
        ws = WorkspaceReport(
            status=WorkspaceStatus.SUCCEEDED,
            outcome=outcome,
            changes=ChangeCounts(create=1 if drifted else 0),
            resources=[ResourceChange(address="null_resource.app", action="create")] if drifted else [],
        )
        report = RunReport(
            run_id=run_id, config="c", mode=mode, started_at=at(start), finished_at=at(end),
            workspaces={"app": ws},
        )
        return RecordRun(config="c", report=report, alerts=AlertsConfig(urls=["json://127.0.0.1:1/hook"]))

    state, applied_at = LedgerState(config="c"), dict[str, str]()
    events: list[str] = []
    for rec in (
        run("check-1", "plan", "changes", 0, 2),
        run("apply", "apply", "applied", 3, 10),
        run("check-2", "plan", "changes", 5, 12),  # planned app before the apply reached it
        run("check-3", "plan", "no_changes", 13, 14),
    ):
        events += [a.title for a in record_run(state, rec, at(20), applied_at=applied_at)]
    assert events == ["Drift detected: c/app", "Drift resolved: c/app"]
    assert state.workspaces["app"].run_id == "check-3"
    assert state.checks_total["app"] == {"drifted": 1, "clean": 2}


async def test_a_state_change_between_plan_and_show_is_not_a_failed_check(terraform: Terraform, tmp_path: Path) -> None:
    """An out-of-band change can land at any moment, e.g. right after a check's plan released the lock."""
    from temporalio.exceptions import ApplicationError
    from temporalio.testing import ActivityEnvironment

    from tfo.activities.runner import CommandResult, TerraformRunner
    from tfo.activities.terraform import TerraformActivities
    from tfo.config.loader import load_config, snapshot
    from tfo.config.payloads import PlanRequest

    root = tmp_path.resolve()
    config = write_stack(root / "stack", [W("app")], binary=terraform.binary)
    ws_dir = root / "stack" / "app"
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        subprocess.run([terraform.binary, *args], cwd=ws_dir, check=True, capture_output=True, timeout=HANG_TIMEOUT)

    class OutOfBandAfterPlan(TerraformRunner):
        """`terraform state rm` by someone else, the moment the check's plan ends."""

        async def run(self, binary: str, args: list[str], **kwargs: Any) -> CommandResult:
            result = await super().run(binary, args, **kwargs)
            if args[0] == "plan":
                subprocess.run(
                    [terraform.binary, "state", "rm", "null_resource.app"],
                    cwd=ws_dir, check=True, capture_output=True, timeout=HANG_TIMEOUT,
                )
            return result

    state = root / "state"
    snap = snapshot(load_config(config), state_dir=state)
    request = PlanRequest(
        run_id="tfo-plan-stack-000000000001", state_dir=str(state), workspace=snap.workspaces[0], settings=snap.settings
    )
    activities = TerraformActivities(OutOfBandAfterPlan(), worker_id="test")
    try:
        result = await ActivityEnvironment().run(activities.plan_workspace, request)
    except ApplicationError as exc:
        # Failing this attempt is fine if Temporal retries it: the next plan sees the drift.
        assert not exc.non_retryable, f"the check failed for good: {exc.type}: {exc.message}"
    else:
        assert result.summary.changes.create == 1
