"""The real `tfo` CLI as subprocesses, in embedded mode (tfo starts and stops its own dev server).

After every command that ends, no dev server of that state dir may be left running.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.cli_helpers import Result, Tfo, assert_nothing_running, dev_servers, kill_dev_servers
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import address_actions, state_resources, write_stack

RUN_KEYS = {"run_id", "mode", "trigger", "commit", "status", "changes", "workspaces"}
# The stable keys; later versions only add to them.
WORKSPACE_KEYS = {"status", "changes", "resources", "outputs", "error"}
CHANGE_KEYS = {"create", "update", "delete", "replace"}



def one_line_error(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result
    assert lines[0].startswith("tfo: error: "), result
    return lines[0]


def single(root: Path, binary: str, name: str = "solo", **settings: str) -> Path:
    return write_stack(root, [W(name)], binary=binary, settings=settings or None)


def changed(doc: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {n: ws["changes"] for n, ws in doc["workspaces"].items() if any(ws["changes"].values())}


def test_apply_json_then_plan_exit_codes(tfo: Tfo, terraform, tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path.resolve() / "stack"
    config = write_stack(
        root,
        [
            W("net", outputs={"vpc_id": '"vpc-1"', "token": '"s3cr3t-value"'}, sensitive_outputs=["token"]),
            W("app", depends_on=["net"], inputs=[("net", "vpc_id", "vpc_id")], variables={"vpc_id": "string"},
              outputs={"name": '"app-1"'}),
        ],
        binary=terraform.binary,
    )
    state = root / ".tfo"  # the default state dir next to the config

    applied = tfo.run("apply", config, "--auto-approve", "--json", idle=state)
    assert applied.code == 0, applied
    assert len(applied.stdout.strip().splitlines()) == 1, applied
    doc = applied.json()
    assert set(doc) == RUN_KEYS
    assert (doc["mode"], doc["status"], doc["changes"]) == ("apply", "succeeded", True)
    assert doc["run_id"].startswith("tfo-apply-")
    assert set(doc["workspaces"]) == {"net", "app"}
    for name, ws in doc["workspaces"].items():
        assert set(ws) >= WORKSPACE_KEYS, ws
        assert ws["status"] == "succeeded" and ws["error"] is None
        assert ws["changes"] == {"create": 1, "update": 0, "delete": 0, "replace": 0}
        assert address_actions(ws["resources"]) == [{"address": f"null_resource.{name}", "action": "create"}]
    assert doc["workspaces"]["net"]["outputs"] == {"vpc_id": "vpc-1", "token": "(sensitive)"}
    assert doc["workspaces"]["app"]["outputs"] == {"name": "app-1"}
    assert "s3cr3t-value" not in applied.stdout + applied.stderr
    # Progress went to stderr, and only the document to stdout.
    assert f"run {doc['run_id']}" in applied.stderr
    assert "net: succeeded" in applied.stderr and "app: succeeded" in applied.stderr
    assert state_resources(root / "net") == ["null_resource.net"]
    assert state_resources(root / "app") == ["null_resource.app"]

    clean = tfo.run("plan", config, idle=state)
    assert clean.code == 0, clean
    assert clean.stdout.strip() == "plan succeeded; no changes", clean

    subprocess.run([terraform.binary, "state", "rm", "null_resource.app"], cwd=root / "app", check=True,
                   capture_output=True)
    drifted = tfo.run("plan", config, "--json", idle=state)
    assert drifted.code == 2, drifted
    plan = drifted.json()
    assert (plan["mode"], plan["status"], plan["changes"]) == ("plan", "succeeded", True)
    assert changed(plan) == {"app": {"create": 1, "update": 0, "delete": 0, "replace": 0}}
    app_resources = address_actions(plan["workspaces"]["app"]["resources"])
    assert app_resources == [{"address": "null_resource.app", "action": "create"}]
    assert plan["workspaces"]["net"]["resources"] == []


def test_broken_workspace_makes_plan_exit_1(tfo: Tfo, terraform, tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path.resolve() / "stack"
    config = write_stack(root, [W("good"), W("bad", broken=True)], binary=terraform.binary)
    result = tfo.run("plan", config, "--json", idle=root / ".tfo")
    assert result.code == 1, result
    doc = result.json()
    assert doc["status"] == "failed"
    assert doc["workspaces"]["bad"]["status"] == "failed"
    assert "main.tf" in doc["workspaces"]["bad"]["error"]
    assert doc["workspaces"]["good"]["status"] == "succeeded"

    text = tfo.run("plan", config, idle=root / ".tfo")
    assert text.code == 1, text
    assert "failed: bad" in text.stdout, text


def test_apply_waits_for_tfo_approve_from_another_process(tfo: Tfo, terraform, tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path.resolve()
    config = single(root / "stack", terraform.binary)
    state = root / "state"
    ws_dir = root / "stack" / "solo"

    with tfo.background("apply", config, "--state-dir", state, logs=root / "apply") as apply:
        run_id = apply.wait_for_approval()
        assert run_id.startswith("tfo-apply-")
        assert state_resources(ws_dir) == []  # planned, not applied
        # No --state-dir: `tfo approve` finds the embedded server through the run index.
        approved = tfo.run("approve", run_id)
        assert approved.code == 0, approved
        assert "approved" in approved.stdout, approved
        result = apply.finish()
    assert result.code == 0, result
    assert "apply succeeded (approved by" in result.stdout, result
    assert state_resources(ws_dir) == ["null_resource.solo"]
    assert_nothing_running(state)

    # The run is over: it no longer waits, so approving it again is an error.
    again = tfo.run("approve", run_id, idle=state)
    assert again.code == 1, again
    assert run_id in one_line_error(again)
    rejected_late = tfo.run("reject", run_id, idle=state)
    assert rejected_late.code == 1, rejected_late
    one_line_error(rejected_late)


def test_reject_stops_the_apply(tfo: Tfo, terraform, tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path.resolve()
    config = single(root / "stack", terraform.binary)
    state = root / "state"
    ws_dir = root / "stack" / "solo"

    with tfo.background("apply", config, "--json", "--state-dir", state, logs=root / "apply") as apply:
        run_id = apply.wait_for_approval()
        rejected = tfo.run("reject", run_id, "--reason", "not today")
        assert rejected.code == 0, rejected
        result = apply.finish()
    assert result.code == 1, result
    doc = result.json()
    assert (doc["run_id"], doc["mode"], doc["status"]) == (run_id, "apply", "rejected")
    assert state_resources(ws_dir) == []
    assert_nothing_running(state)

    status = tfo.run("status", run_id, "--json", idle=state)
    assert status.code == 1, status
    assert status.json() == doc


def test_approval_timeout_rejects_the_run(tfo: Tfo, terraform, tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path.resolve()
    config = single(root / "stack", terraform.binary, approval_timeout="3s")
    state = root / "state"

    result = tfo.run("apply", config, "--json", "--state-dir", state, idle=state)
    assert result.code == 1, result
    assert "waiting for approval: run `tfo approve" in result.stderr, result
    doc = result.json()
    assert doc["status"] == "rejected"
    assert state_resources(root / "stack" / "solo") == []

    text = tfo.run("status", doc["run_id"], idle=state)
    assert text.code == 1, text
    assert "approval timed out after 3s" in text.stdout, text


def test_exit_codes_hold_over_20_runs(tfo: Tfo, terraform, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Each tfo process ends with the code it means, never the SDK's abort (sdk-python#300)."""
    root = tmp_path.resolve()
    clean = single(root / "clean", terraform.binary)
    dirty = single(root / "dirty", terraform.binary)
    first = tfo.run("apply", clean, "--auto-approve", idle=root / "clean" / ".tfo")
    assert first.code == 0, first

    expected, seen, failures = [], [], []
    for i in range(20):
        config, want = (clean, 0) if i % 2 == 0 else (dirty, 2)
        result = tfo.run("plan", config, idle=config.parent / ".tfo")
        expected.append(want)
        seen.append(result.code)
        if result.code != want:
            failures.append(str(result))
    assert seen == expected, "\n\n".join(failures)


def test_status_and_runs_repeat_what_the_run_printed(tfo: Tfo, terraform, tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path.resolve()
    config = write_stack(root / "stack", [W("solo", outputs={"id": '"x-1"'})], binary=terraform.binary)
    state = root / "stack" / ".tfo"

    applied = tfo.run("apply", config, "--auto-approve", "--json", idle=state)
    assert applied.code == 0, applied
    planned = tfo.run("plan", config, "--json", idle=state)
    assert planned.code == 0, planned

    for run in (applied, planned):
        doc = run.json()
        status = tfo.run("status", doc["run_id"], "--json", idle=state)
        assert status.code == 0, status
        assert status.json() == doc

    listed = tfo.run("runs", config, "--json", idle=state)
    assert listed.code == 0, listed
    ids = [r["run_id"] for r in listed.json()["runs"]]
    assert sorted(ids) == sorted([applied.json()["run_id"], planned.json()["run_id"]])
    # tfo's status, as the runs printed it (not Temporal's `completed`).
    assert all(r["status"] == "succeeded" for r in listed.json()["runs"])


def test_bad_input_is_one_line_and_exit_1(tfo: Tfo, terraform, tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path.resolve()
    config = single(root / "stack", terraform.binary)
    state = root / "stack" / ".tfo"

    missing = tfo.run("plan", root / "missing.yaml", idle=state)
    assert missing.code == 1, missing
    assert "missing.yaml" in one_line_error(missing)

    unknown = tfo.run("plan", config, "-w", "nosuch", idle=state)
    assert unknown.code == 1, unknown
    assert "nosuch" in one_line_error(unknown)

    nowhere = tfo.run("approve", "tfo-apply-stack-000000000000", idle=state)
    assert nowhere.code == 1, nowhere
    assert "tfo-apply-stack-000000000000" in one_line_error(nowhere)
    assert not state.exists()  # nothing was started for any of them


def test_embedded_server_retries_when_a_port_is_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A port taken between picking and binding must not fail the command: tfo retries with fresh ports."""
    import socket

    from tfo.daemon import embedded

    state = tmp_path.resolve() / "state"
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        real_free_port = embedded.free_port
        picks = iter([real_free_port(), taken])  # the first launch gets a UI port that is in use
        monkeypatch.setattr(embedded, "free_port", lambda: next(picks, None) or real_free_port())
        try:
            with embedded.EmbeddedServer(state) as info:
                assert info.ui_port != taken
                assert embedded.port_open(info.port)
                assert dev_servers(state) == [info.pid]
            assert_nothing_running(state)
            log = (state / "server" / "server.log").read_text()
            assert str(taken) in log  # the failed first attempt, then a clean start
        finally:
            kill_dev_servers(state)
