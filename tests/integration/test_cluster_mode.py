"""Cluster mode on real components: infra code from a bare git repo over file://, saved
plans in a real S3 API (moto), state in terraform's pg backend on a real PostgreSQL,
and workers that share no path at all (each has its own --work-dir).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import running_workers
from tests.integration.pg_stack import backend_tf, counted_main_tf, pg_env, pg_state_resources, schema_for
from tests.integration.postgres import Database, PostgresServer
from tests.integration.s3_server import S3_TEST_BUCKET
from tfo.config.drift_models import DriftStatus
from tfo.config.loader import load_config
from tfo.config.payloads import ApprovalDecision, RunReport, RunStatus
from tfo.daemon import runs
from tfo.daemon.drift import fetch_report
from tfo.daemon.embedded import free_port

TFO = str(Path(sys.executable).parent / "tfo")
GIVE_UP = 240.0  # a guard against hanging, never a pass/fail criterion
STACK = "envs/prod"


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


class Repo:
    """A bare repo (the remote) and a clone to commit from."""

    def __init__(self, root: Path, counters: Path) -> None:
        self.bare, self.clone, self.counters = root / "infra.git", root / "clone", counters
        git("init", "--bare", "-b", "main", str(self.bare), cwd=root)
        git("clone", self.bare.as_uri(), str(self.clone), cwd=root)
        counters.mkdir()
        self.write("vpc", counted_main_tf("vpc", counters / "vpc", outputs={"id": '"vpc-1"'}))
        self.write("app", counted_main_tf("app", counters / "app", variables=("vpc_id",)))
        self.push("two workspaces")

    def write(self, ws: str, main_tf: str) -> None:
        directory = self.clone / STACK / ws
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "main.tf").write_text(main_tf)
        (directory / "backend.tf").write_text(backend_tf(schema_for(ws)))

    def push(self, message: str) -> str:
        git("add", "-A", cwd=self.clone)
        git("commit", "-q", "-m", message, cwd=self.clone)
        git("push", "-q", "origin", "HEAD:main", cwd=self.clone)
        return git("rev-parse", "HEAD", cwd=self.clone)


def write_config(
    path: Path, repo: Repo, endpoint: str, *, workflow_queue: str, tf_queue: str, binary: str, store: bool = True
) -> Path:
    """infra.yaml as a ConfigMap would hold it: no code beside it, only the git source."""
    doc = {
        "name": "cluster",
        "id": f"cluster-{workflow_queue}",
        "task_queue": workflow_queue,
        "source": {"git": repo.bare.as_uri(), "ref": "main", "path": STACK},
        "artifacts": {"url": f"s3://{S3_TEST_BUCKET}/{workflow_queue}", "endpoint_url": endpoint},
        "terraform": {"binary": binary, "heartbeat_timeout": "10s"},
        "workspaces": [
            {"name": "vpc", "dir": "vpc", "task_queue": tf_queue},
            {"name": "app", "dir": "app", "task_queue": tf_queue, "dependsOn": ["vpc"],
             "inputs": [{"sourceWorkspace": "vpc", "sourceOutput": "id", "targetVar": "vpc_id"}]},
        ],
    }  # fmt: skip
    if not store:
        del doc["artifacts"]
    path.write_text(json.dumps(doc))
    return path


def cluster_stack(root: Path, endpoint: str, **settings: Any) -> tuple[Repo, Path]:
    """The git repo and, apart from it as a ConfigMap would hold it, its infra.yaml."""
    repo = Repo(root, root / "counters")
    (root / "configmap").mkdir()
    return repo, write_config(root / "configmap" / "infra.yaml", repo, endpoint, **settings)


def objects(endpoint: str, prefix: str) -> list[str]:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    return [o["Key"] for o in s3.list_objects_v2(Bucket=S3_TEST_BUCKET, Prefix=prefix).get("Contents", [])]


@pytest.fixture
def database(postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    db = postgres.create_database("cluster")
    for key, value in pg_env(db.conn_str).items():
        monkeypatch.setenv(key, value)  # for workers started here (in-process or not)
    yield db


def spawn_worker(name: str, *, address: str, tf_queue: str, workflow_queue: str, root: Path) -> subprocess.Popen[bytes]:
    work = root / f"{name}-work"  # its own dir: checkouts, saved plans, plugin cache
    argv = [TFO, "worker", "--temporal-address", address, "--default-queue", workflow_queue, "--task-queue",
            tf_queue, "--identity", name, "--metrics-port", "0", "--metrics-host", "127.0.0.1",
            "--work-dir", str(work)]  # fmt: skip
    with (root / f"{name}.log").open("ab") as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    proc.wait(timeout=60)


async def status_when(handle: Any, ready: Any) -> RunReport:
    deadline = time.monotonic() + GIVE_UP
    while True:
        live: RunReport | None = await handle.query("status", result_type=RunReport)
        if live is not None and ready(live):
            return live
        assert time.monotonic() < deadline, live
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("store", [True, False], ids=["artifact-store", "no-store"])
async def test_a_plan_made_on_one_worker_is_applied_by_another_that_shares_no_path(
    temporal_env, terraform, tmp_path, task_queue, database, s3_endpoint, store
) -> None:  # type: ignore[no-untyped-def]
    """With an artifact store, worker B fetches A's plan; without one, B plans again
    within the approval (A's plan went with A's dir) and applies that."""
    root = tmp_path.resolve()
    tf_queue = f"{task_queue}-tf"
    repo, config = cluster_stack(root, s3_endpoint, workflow_queue=task_queue, tf_queue=tf_queue,
                                 binary=terraform.binary, store=store)  # fmt: skip
    client = temporal_env.client
    address = client.service_client.config.target_host
    common = dict(address=address, tf_queue=tf_queue, workflow_queue=task_queue, root=root)
    daemon = subprocess.Popen(
        [TFO, "daemon", str(config), "--temporal-address", address, "--metrics-port", str(free_port()),
         "--metrics-host", "127.0.0.1", "--state-dir", str(root / "daemon-state")],
        stdin=subprocess.DEVNULL, stdout=(root / "daemon.log").open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    worker_a = spawn_worker("worker-a", **common)  # type: ignore[arg-type]
    worker_b = None
    try:
        request = runs.build_request(load_config(config), mode="apply", workspaces=[], state_dir=root / "client-state")
        run_id = await runs.start_run(client, request)
        handle = client.get_workflow_handle(run_id, result_type=RunReport)
        waiting = await status_when(handle, lambda r: r.status == RunStatus.AWAITING_APPROVAL)
        assert waiting.workspaces["vpc"].worker == "worker-a", waiting  # app waits for vpc's output
        planned_at = repo_head = git("rev-parse", "main", cwd=repo.bare)
        assert waiting.commit == planned_at
        assert len(objects(s3_endpoint, f"{task_queue}/runs/{run_id}/")) == int(store)  # vpc's; app waits

        stop(worker_a, signal.SIGKILL)  # gone at the gate, with its work dir's plan
        worker_b = spawn_worker("worker-b", **common)  # type: ignore[arg-type]
        await handle.execute_update("decide", ApprovalDecision(approved=True, by="test"))
        report = await asyncio.wait_for(handle.result(), GIVE_UP)
    finally:
        for proc in (worker_a, worker_b, daemon):
            if proc is not None:
                stop(proc, signal.SIGTERM)

    errors = {n: ws.error for n, ws in report.workspaces.items() if ws.error}
    assert report.status == RunStatus.SUCCEEDED, (errors, (root / "worker-b.log").read_text()[-3000:])
    assert report.public_json()["commit"] == repo_head
    assert report.workspaces["vpc"].worker == "worker-b" and report.workspaces["vpc"].outcome == "applied"
    assert report.workspaces["vpc"].replanned is not store  # fetched, or planned again
    assert report.workspaces["app"].outcome == "applied"
    for ws in ("vpc", "app"):
        assert (repo.counters / ws).read_text().splitlines() == ["created"], ws  # exactly once
        assert pg_state_resources(database, ws) == [f"null_resource.{ws}"]
    assert database.advisory_locks() == []
    assert objects(s3_endpoint, f"{task_queue}/runs/{run_id}/") == []  # deleted when the run ended
    assert not (root / "client-state" / "runs").exists()  # no worker wrote into the client's dir


async def test_checks_name_their_commit_and_a_moved_ref_replans_within_the_approval(
    temporal_env, terraform, tmp_path, task_queue, database, s3_endpoint
) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path.resolve()
    repo, config = cluster_stack(root, s3_endpoint, workflow_queue=task_queue, tf_queue=task_queue,
                                 binary=terraform.binary)  # fmt: skip
    loaded = load_config(config)
    client = temporal_env.client

    async def run(mode: str, **extra: Any) -> RunReport:
        request = runs.build_request(loaded, mode=mode, workspaces=[], state_dir=root / "client", **extra)  # type: ignore[arg-type]
        handle = client.get_workflow_handle(await runs.start_run(client, request), result_type=RunReport)
        return await asyncio.wait_for(handle.result(), GIVE_UP)

    async with running_workers(client, task_queue, work_dir=root / "work"):
        first = await run("apply", auto_approve=True)
        assert first.status == RunStatus.SUCCEEDED, first
        clean = await run("plan", trigger="schedule")
        assert clean.commit == git("rev-parse", "main", cwd=repo.bare) and not clean.changes

        # A commit between two checks: the new check names it; only app shows the change.
        repo.write("app", counted_main_tf("app", repo.counters / "app", variables=("vpc_id",)).replace('"v1"', '"v2"'))
        second = repo.push("app: v2")
        check = await run("plan", trigger="schedule")
        assert check.commit == second == git("rev-parse", "main", cwd=repo.bare)
        drift = await fetch_report(client, loaded.id)
        assert drift is not None
        app, vpc = drift.workspaces["app"], drift.workspaces["vpc"]
        assert (app.status, app.causes, app.commit) == (DriftStatus.PENDING, ["code"], second), app
        assert (vpc.status, vpc.commit) == (DriftStatus.CLEAN, second), vpc

        # A plan at X, the ref moved to Y before approval: planned again at Y, then applied.
        request = runs.build_request(loaded, mode="apply", workspaces=[], state_dir=root / "client")
        handle = client.get_workflow_handle(await runs.start_run(client, request), result_type=RunReport)
        waiting = await status_when(handle, lambda r: r.status == RunStatus.AWAITING_APPROVAL)
        assert waiting.commit == second
        repo.write("app", counted_main_tf("app", repo.counters / "app", variables=("vpc_id",)).replace('"v1"', '"v2"')
                   + "# reviewed\n")  # fmt: skip
        third = repo.push("app: comment")
        await handle.execute_update("decide", ApprovalDecision(approved=True, by="test"))
        applied = await asyncio.wait_for(handle.result(), GIVE_UP)
    assert applied.status == RunStatus.SUCCEEDED, applied
    assert applied.commit == third
    assert applied.workspaces["app"].outcome == "applied" and applied.workspaces["app"].replanned
    assert applied.workspaces["app"].commit == third
    assert (repo.counters / "app").read_text().splitlines() == ["created", "created"]  # v1, then v2 once


async def test_a_ref_that_does_not_exist_fails_the_run_at_once_in_one_line(
    temporal_env, terraform, tmp_path, task_queue, s3_endpoint
) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path.resolve()
    repo, config = cluster_stack(root, s3_endpoint, workflow_queue=task_queue, tf_queue=task_queue,
                                 binary=terraform.binary)  # fmt: skip
    doc = json.loads(config.read_text())
    doc["source"]["ref"] = "no-such-branch"
    config.write_text(json.dumps(doc))
    client = temporal_env.client
    async with running_workers(client, task_queue, work_dir=root / "work"):
        request = runs.build_request(load_config(config), mode="plan", workspaces=[], state_dir=root / "client")
        handle = client.get_workflow_handle(await runs.start_run(client, request), result_type=RunReport)
        began = time.monotonic()
        report = await asyncio.wait_for(handle.result(), GIVE_UP)
    assert time.monotonic() - began < 30  # not retried: the ref is simply not there
    assert report.status == RunStatus.FAILED and report.commit is None
    errors = {ws.error for ws in report.workspaces.values()}
    (error,) = errors
    assert error is not None and "no branch or tag 'no-such-branch'" in error and "\n" not in error, error
    assert repo.bare.as_uri() in error or "infra.git" in error
