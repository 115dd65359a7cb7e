"""Stacks on terraform's `pg` backend against a real PostgreSQL (tests/integration/postgres.py).

Workers that share no disk keep state remotely. Here the state and terraform's own lock
(a PostgreSQL advisory lock, held by terraform's database session) live in a server
the harness starts; a worker killed with SIGKILL mid-apply must leave no stale lock,
and every resource must be created exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import yaml

from tests.integration.cli_helpers import TFO, Tfo, cli_env
from tests.integration.pg_stack import (
    backend_tf,
    counted_main_tf,
    counted_resource,
    pg_env,
    pg_state,
    pg_state_resources,
    schema_for,
    terraform_plan_no_wait,
    write_pg_stack,
)
from tests.integration.postgres import Database, PostgresServer
from tests.integration.postgres import postgres_server as postgres_server  # the `postgres` fixture
from tests.reliability.figures import record_figure
from tests.reliability.processes import GIVE_UP, kill_all, processes_mentioning, start_worker, started, stop, wait_for
from tests.stacks import WorkspaceTemplate as W
from tfo.config.payloads import RunReport, WorkspaceStatus


def created(counter: Path) -> list[str]:
    return counter.read_text().splitlines() if counter.exists() else []


def test_dag_on_pg_backend_applies_once_and_plans_clean(tfo: Tfo, terraform, postgres: PostgresServer, tmp_path):
    db = postgres.create_database("dag")
    stack = tmp_path / "stack"
    counters = tmp_path / "counters"
    counters.mkdir()
    config = write_pg_stack(
        stack,
        [
            W("network"),
            W("app", depends_on=["network"], inputs=[("network", "vpc_id", "vpc_id")]),
            W("db", depends_on=["network"], inputs=[("network", "vpc_id", "vpc_id")]),
        ],
        binary=terraform.binary,
    )
    bodies = {
        "network": counted_main_tf("network", counters / "network", outputs={"vpc_id": '"vpc-pg-1"'}),
        "app": counted_main_tf("app", counters / "app", variables=("vpc_id",)),
        "db": counted_main_tf("db", counters / "db", variables=("vpc_id",)),
    }
    for name, body in bodies.items():
        (stack / name / "main.tf").write_text(body)
    tfo.env.update(pg_env(db.conn_str))
    state_dir = stack / ".tfo"

    began = time.monotonic()
    applied = tfo.run("apply", config, "--auto-approve", "--json", idle=state_dir)
    record_figure("pg backend: seconds for `tfo apply` of a new 3-workspace DAG (embedded mode)",
                  time.monotonic() - began)
    assert applied.code == 0, str(applied)
    report = applied.json()
    assert report["status"] == "succeeded", str(applied)
    for name in bodies:
        assert report["workspaces"][name]["status"] == "succeeded", str(applied)
        assert created(counters / name) == ["created"], name
        # The state is in postgres, in the workspace's own schema; nothing on local disk.
        assert pg_state_resources(db, name) == [f"null_resource.{name}"]
        assert not (stack / name / "terraform.tfstate").exists()
    # The input went through: app's state records network's output as its trigger.
    [app] = (pg_state(db, "app") or {})["resources"]
    assert app["instances"][0]["attributes"]["triggers"]["vpc_id"] == "vpc-pg-1"
    assert db.advisory_locks() == []

    planned = tfo.run("plan", config, "--json", idle=state_dir)
    assert planned.code == 0, str(planned)  # no changes
    assert all(ws["error"] is None for ws in planned.json()["workspaces"].values()), str(planned)
    for name in bodies:
        assert created(counters / name) == ["created"], name
    assert db.advisory_locks() == []


def _run_dir(stack: Path, workspace: str) -> Path | None:
    found = sorted((stack / ".tfo" / "runs").glob(f"*/{workspace}"))
    return found[-1] if found else None


def _applying(stack: Path, counter: Path) -> Path | None:
    """slow's run dir once terraform is inside the slow create (its provisioner runs)."""
    run_dir = _run_dir(stack, "slow")
    if run_dir is None or not counter.exists():
        return None
    log = run_dir / "apply.log"
    if (run_dir / "apply.pid").exists() and log.exists() and "Provisioning with 'local-exec'" in log.read_text():
        return run_dir
    return None


def _set_lock_timeout(config: Path, value: str) -> None:
    document = yaml.safe_load(config.read_text())
    document["terraform"]["lock_timeout"] = value
    config.write_text(yaml.safe_dump(document, sort_keys=False))


async def test_worker_killed_mid_apply_on_pg_backend_leaves_no_stale_lock(
    temporal_env, terraform, postgres: PostgresServer, tmp_path, task_queue
):
    """Client mode: a dev server, a `tfo worker` process and a `tfo apply` client process."""
    db = postgres.create_database("kill")
    stack = tmp_path / "stack"
    counters = {name: tmp_path / f"{name}-creations.log" for name in ("slow", "after")}
    config = write_pg_stack(
        stack,
        [W("slow"), W("after", depends_on=["slow"], inputs=[("slow", "id", "slow_id")])],
        binary=terraform.binary,
        top={"task_queue": task_queue},
    )
    (stack / "slow" / "main.tf").write_text(counted_main_tf("slow", counters["slow"], sleep=6))
    (stack / "after" / "main.tf").write_text(counted_main_tf("after", counters["after"], variables=("slow_id",)))
    address = temporal_env.client.service_client.config.target_host
    worker_env = {**os.environ, "TF_CLI_CONFIG_FILE": str(terraform.cli_config), **pg_env(db.conn_str)}
    # The client runs no terraform: it gets neither the backend's settings nor a worker.
    client_env = cli_env(tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir()

    def client(*args: str | Path, name: str) -> subprocess.Popen[bytes]:
        with (logs / f"{name}.out").open("wb") as out, (logs / f"{name}.err").open("wb") as err:
            return subprocess.Popen(
                [TFO, *(str(a) for a in args), "--json", "--temporal-address", address],
                cwd=tmp_path, env=client_env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True,
            )

    def client_output(name: str) -> str:
        return f"{(logs / f'{name}.out').read_text()}\n--- stderr\n{(logs / f'{name}.err').read_text()}"

    try:
        with started(start_worker(address, task_queue, "pg-w1", logs / "w1.log", worker_env)) as procs:
            w1 = procs[0]
            apply = client("apply", config, "--auto-approve", name="apply")
            procs.append(apply)

            def mid_apply() -> Path | None:
                assert w1.poll() is None, (logs / "w1.log").read_text()
                assert apply.poll() is None, client_output("apply")
                return _applying(stack, counters["slow"])

            run_dir = await asyncio.to_thread(wait_for, "slow's apply to be inside its create", mid_apply)
            held = db.advisory_locks()
            # terraform's own locking is in use: its session holds an advisory lock (the
            # database-wide creation lock -1, as this is the workspace's first state).
            assert [lock.key for lock in held if lock.granted], held

            os.killpg(w1.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            w1.wait()
            assert not (run_dir / "apply.rc").exists(), "the kill did not land mid-apply"
            sentinel = int((run_dir / "apply.pid").read_text().split()[1])
            os.kill(sentinel, 0)  # the apply outlived the worker, holding its lock
            assert db.advisory_locks(), "the lock went with the worker, not with terraform"

            procs.append(start_worker(address, task_queue, "pg-w2", logs / "w2.log", worker_env))
            released_after: float | None = None
            deadline = time.monotonic() + GIVE_UP
            while apply.poll() is None:
                assert time.monotonic() < deadline, "the run did not finish after the restart"
                assert procs[-1].poll() is None, (logs / "w2.log").read_text()
                if released_after is None and not db.advisory_locks():
                    released_after = time.monotonic() - killed_at
                await asyncio.sleep(0.05)
            record_figure(
                "pg backend, kill -9 worker mid-apply: seconds from the kill to the run's end (new worker at once)",
                time.monotonic() - killed_at,
            )
            if released_after is not None:
                record_figure(
                    "pg backend, kill -9 worker mid-apply: seconds from the kill until terraform's pg lock was free",
                    released_after,
                )
            assert apply.returncode == 0, client_output("apply")
            report = json.loads((logs / "apply.out").read_text())
            # Who applied what is not in `--json`: the run's own result says.
            handle = temporal_env.client.get_workflow_handle(report["run_id"], result_type=RunReport)
            full: RunReport = await handle.result()

            # No stale lock: nothing holds an advisory lock, and neither terraform nor tfo
            # (told to wait for no lock) is kept waiting.
            leftover_locks = db.advisory_locks()
            record_figure("pg backend, kill -9 worker mid-apply: advisory locks left after the run",
                          len(leftover_locks))
            assert leftover_locks == []
            probe = terraform_plan_no_wait(terraform.binary, stack / "slow", worker_env)
            assert probe.returncode == 0, probe.stdout + probe.stderr  # not locked, and no changes
            slow_id = report["workspaces"]["slow"]["outputs"]["id"]
            probe = terraform_plan_no_wait(
                terraform.binary, stack / "after", worker_env, variables={"slow_id": slow_id}
            )
            assert probe.returncode == 0, probe.stdout + probe.stderr
            _set_lock_timeout(config, "0s")
            plan = client("plan", config, name="plan")
            procs.append(plan)
            assert await asyncio.to_thread(plan.wait, GIVE_UP) == 0, client_output("plan")  # 0: no changes
            leftovers = processes_mentioning(str(stack))
    finally:
        # Whatever happened, no terraform or sentinel of this stack outlives the test.
        kill_all(processes_mentioning(str(stack)))

    assert report["status"] == "succeeded", report
    slow, after = full.workspaces["slow"], full.workspaces["after"]
    # The new worker adopted the apply the killed one had started, and applied nothing again.
    assert slow.status == WorkspaceStatus.SUCCEEDED and slow.outcome == "applied", slow
    assert slow.resumed is True and slow.worker == "pg-w2", slow
    assert after.status == WorkspaceStatus.SUCCEEDED and after.outcome == "applied" and after.resumed is False, after
    # Every resource created exactly once, and recorded in postgres.
    assert created(counters["slow"]) == ["created"]
    assert created(counters["after"]) == ["created"]
    assert pg_state_resources(db, "slow") == ["null_resource.slow"]
    assert pg_state_resources(db, "after") == ["null_resource.after"]
    [slow_resource] = (pg_state(db, "slow") or {})["resources"]
    assert slow_resource["instances"][0]["attributes"]["id"] == slow_id
    [after_resource] = (pg_state(db, "after") or {})["resources"]
    assert after_resource["instances"][0]["attributes"]["triggers"]["slow_id"] == slow_id
    assert leftovers == {}


def test_terraform_killed_mid_apply_takes_its_pg_lock_with_it(terraform, postgres: PostgresServer, tmp_path):
    """The harder case (the worker's whole host or pod dies, terraform with it): the
    advisory lock belongs to terraform's database session, so it goes when the
    session does, where a lock file or a lock table row would stay behind."""
    db: Database = postgres.create_database("tfkill")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "backend.tf").write_text(backend_tf(schema_for("ws")))
    (ws / "main.tf").write_text(counted_main_tf("first", tmp_path / "first.log"))
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(terraform.cli_config), **pg_env(db.conn_str)}

    def terraform_run(*args: str) -> None:
        done = subprocess.run(
            [terraform.binary, *args, "-input=false", "-no-color"], cwd=ws, env=env, capture_output=True, text=True,
            timeout=120, check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    terraform_run("init")
    terraform_run("apply", "-auto-approve")  # the workspace's row exists: the lock is on it
    row = db.state_ids(schema_for("ws"))["default"]
    (ws / "main.tf").write_text(
        counted_main_tf("first", tmp_path / "first.log") + counted_resource("second", tmp_path / "second.log", sleep=60)
    )
    log = tmp_path / "apply.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [terraform.binary, "apply", "-auto-approve", "-input=false", "-no-color"], cwd=ws, env=env,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        wait_for("the slow create", lambda: "Provisioning with 'local-exec'" in log.read_text() or None)
        assert [lock.key for lock in db.advisory_locks() if lock.granted] == [row]
        os.killpg(proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        proc.wait()
        wait_for("the lock to go", lambda: db.advisory_locks() == [] or None)
        record_figure("pg backend: seconds from a kill -9 of terraform mid-apply until its lock was free",
                      time.monotonic() - killed_at)
    finally:
        stop(proc, group=True)
        kill_all(processes_mentioning(str(ws)))
    probe = terraform_plan_no_wait(terraform.binary, ws, env)
    assert "Error acquiring the state lock" not in probe.stderr, probe.stderr
    assert probe.returncode == 2, probe.stdout + probe.stderr  # not locked: the lost create is planned again
