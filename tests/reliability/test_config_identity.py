"""Two configs with one name never share schedules or a drift ledger (issue 15, item 8).

Two repos both called `infra` (no `name:`, so both are named after their directory)
run a `tfo daemon` each on one embedded Temporal server; both reconcile at start and
again on SIGHUP. Also: old-format schedule IDs (`tfo-sched:NAME:…`) are replaced only
when they record this config file, and two files with the same explicit `id:` are a
one-line error.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests.integration.cli_helpers import Tfo
from tests.integration.drift_helpers import _with_client, running_daemon, schedule_intervals, wait_for
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import write_stack
from tfo.config.loader import load_config

RECONCILED = "schedules: {} created, {} updated, {} deleted"


def two_repos(root: Path, binary: str, *, every: str = "2s") -> tuple[Path, Path]:
    schedules = {"schedules": [{"name": "drift", "every": every}]}
    a = write_stack(root / "repo-a" / "infra", [W("alpha")], binary=binary, top=schedules)
    b = write_stack(root / "repo-b" / "infra", [W("beta")], binary=binary, top=schedules)
    return a, b


def drifted_checks(daemon: Any, ws: str) -> float | None:
    found = daemon.scrape().get("tfo_drift_checks_total", config="infra", workspace=ws, result="drifted")
    return found if found and found >= 1 else None


def test_same_name_configs_keep_their_schedules_and_ledgers(tfo: Tfo, terraform, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path.resolve()
    state = root / "state"
    a, b = two_repos(root, terraform.binary)
    id_a, id_b = load_config(a).id, load_config(b).id
    assert load_config(a).name == load_config(b).name == "infra" and id_a != id_b

    with (
        running_daemon(a, root, logs=root / "daemon-a", state_dir=state) as daemon_a,
        running_daemon(b, root, logs=root / "daemon-b", state_dir=state) as daemon_b,
    ):
        for daemon in (daemon_a, daemon_b):
            wait_for("the first reconcile", lambda d=daemon: RECONCILED.format(1, 0, 0) in d.stderr())
        for daemon in (daemon_a, daemon_b):  # each reconciles again: neither deletes the other's
            daemon.signal(signal.SIGHUP)
            wait_for("the reload", lambda d=daemon: RECONCILED.format(0, 1, 0) in d.stderr())
        assert schedule_intervals(state, "tfo-sched:") == {
            f"tfo-sched:{id_a}:drift": [2.0],
            f"tfo-sched:{id_b}:drift": [2.0],
        }
        for config in (a, b):
            listed = tfo.run("schedules", "list", config, "--state-dir", state, "--json")
            assert listed.code == 0, listed
            assert [r["synced"] for r in listed.json()["schedules"]] == [True], listed

        # Separate ledgers: each daemon exports only its own config's workspaces, still
        # under the label config="infra" (the metrics contract is the name).
        wait_for("a drifted check of alpha", lambda: drifted_checks(daemon_a, "alpha"))
        wait_for("a drifted check of beta", lambda: drifted_checks(daemon_b, "beta"))
        workspaces_a = {dict(labels)["workspace"] for labels in daemon_a.scrape().series("tfo_workspace_drifted")}
        workspaces_b = {dict(labels)["workspace"] for labels in daemon_b.scrape().series("tfo_workspace_drifted")}
        assert (workspaces_a, workspaces_b) == ({"alpha"}, {"beta"})
    for config, ws in ((a, "alpha"), (b, "beta")):
        drift = tfo.run("drift", config, "--state-dir", state, "--json")
        assert drift.code == 0, drift
        assert list(drift.json()["workspaces"]) == [ws], drift


def test_old_schedule_ids_migrate_only_for_their_own_file_and_an_id_clash_is_one_line(  # type: ignore[no-untyped-def]
    tfo: Tfo, terraform, tmp_path: Path
) -> None:
    from tfo.daemon.schedules import build_schedule

    root = tmp_path.resolve()
    state = root / "state"
    a, b = two_repos(root, terraform.binary, every="1h")
    keeper = write_stack(root / "keeper", [W("idle")], binary=terraform.binary)  # keeps the server up
    legacy_a, legacy_b = "tfo-sched:infra:drift", "tfo-sched:infra:nightly"

    async def make_legacy(client: Any) -> None:
        for sid, config in ((legacy_a, a), (legacy_b, b)):  # as tfo made them before config IDs
            loaded = load_config(config)
            await client.create_schedule(sid, build_schedule(
                loaded, loaded.config.schedules[0], state_dir=state, ui_url=None, namespace="default"
            ))  # fmt: skip

    with running_daemon(keeper, root, logs=root / "keeper-daemon", state_dir=state):
        _with_client(state, make_legacy)
        synced = tfo.run("schedules", "sync", a, "--state-dir", state, "--json")
        assert synced.code == 0, synced
        assert synced.json() == {
            "created": [f"tfo-sched:{load_config(a).id}:drift"], "updated": [], "deleted": [legacy_a],
        }  # fmt: skip
        assert set(schedule_intervals(state, "tfo-sched:")) == {f"tfo-sched:{load_config(a).id}:drift", legacy_b}

        shared = {"id": "shared", "schedules": [{"name": "drift", "every": "1h"}]}
        first = write_stack(root / "one", [W("x")], binary=terraform.binary, top=shared)
        second = write_stack(root / "two", [W("y")], binary=terraform.binary, top=shared)
        assert tfo.run("schedules", "sync", first, "--state-dir", state).code == 0
        clash = tfo.run("schedules", "sync", second, "--state-dir", state)
        assert clash.code == 1, clash
        assert clash.stderr.strip().count("\n") == 0 and "Traceback" not in clash.stderr, clash
        assert f"config id 'shared' is also used by {first}" in clash.stderr, clash
        assert "tfo-sched:shared:drift" in schedule_intervals(state, "tfo-sched:shared:")
