"""Attribute-level diffs on real components: `tfo plan --json`, the approval gate in a pty,
`tfo show`, payload bounds read from real histories, and a secret canary.

Stacks use the test provider (devtools/test_provider.py), whose objects have plain,
map and sensitive attributes, and null_resource for a replace.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.offline_terraform import filestore_provider_available
from tests.conftest import Terraform
from tests.integration.cli_helpers import TFO, Tfo, cli_env
from tests.integration.engine import run_stack
from tests.reliability.history import BLOB_WARN, executions, largest_blob
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import filestore_main_tf, write_stack
from tfo.config.payloads import DIFF_MAX_ATTRIBUTES, DIFF_MAX_VALUE_CHARS, DIFF_MAX_WORKSPACE_BYTES
from tfo.daemon.diff_text import RESET, YELLOW

pytestmark = pytest.mark.skipif(not filestore_provider_available(), reason="the tf package is not installed")
CANARY = "CANARY-7c1e-secret-attribute"
CUT_MARKER = "..."


def filestore_stack(
    root: Path, terraform: Terraform, objects: dict[str, dict[str, Any]], *, top: dict[str, Any] | None = None
) -> Path:
    """One workspace `files` of filestore objects (paths under root/objects), plus `nul`."""
    (root / "objects").mkdir(parents=True, exist_ok=True)
    config = write_stack(root, [W("nul")], binary=terraform.binary, top=top)
    write_objects(root, objects)
    doc = yaml.safe_load(config.read_text())
    doc["workspaces"].append({"name": "files", "dir": "files"})
    config.write_text(json.dumps(doc))
    return config


def write_objects(root: Path, objects: dict[str, dict[str, Any]]) -> None:
    (root / "files").mkdir(exist_ok=True)
    for name, attrs in objects.items():
        attrs.setdefault("path", str(root / "objects" / f"{name}.json"))
    (root / "files" / "main.tf").write_text(filestore_main_tf(objects))


def by_address(ws: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["address"]: r for r in ws["resources"]}


def test_update_and_replace_show_their_paths_in_plan_json(tfo: Tfo, terraform: Terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve() / "stack"
    objects = {"a": {"content": "one", "tags": {"owner": "alice", "team": "net"}, "secret": CANARY}}
    config = filestore_stack(root, terraform, objects)
    applied = tfo.run("apply", config, "--auto-approve", idle=root / ".tfo")
    assert applied.code == 0, applied

    write_objects(root, {"a": {"content": "one", "tags": {"owner": "bob", "team": "net"}, "secret": CANARY + "2"}})
    (root / "nul" / "main.tf").write_text((root / "nul" / "main.tf").read_text().replace('"v1"', '"v2"'))
    planned = tfo.run("plan", config, "--json")
    assert planned.code == 2, planned
    doc = planned.json()
    (update,) = doc["workspaces"]["files"]["resources"]
    assert update["action"] == "update"
    assert update["attributes"] == [
        {"path": "secret", "before": "(sensitive)", "after": "(sensitive)"},
        {"path": "tags.owner", "before": "alice", "after": "bob"},
    ]
    (replace,) = doc["workspaces"]["nul"]["resources"]
    assert replace["action"] == "replace"
    assert replace["replace_paths"] == ["triggers"], replace
    assert {"path": "triggers.trigger", "before": "v1", "after": "v2"} in replace["attributes"]
    assert CANARY not in planned.stdout + planned.stderr


def test_the_gate_shows_the_diff_before_the_prompt(tfo: Tfo, terraform: Terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve() / "stack"
    config = filestore_stack(root, terraform, {"a": {"content": "one", "tags": {"owner": "alice"}}})
    applied = tfo.run("apply", config, "--auto-approve", "--json")
    assert applied.code == 0, applied
    created = by_address(applied.json()["workspaces"]["files"])["filestore_object.a"]
    assert created["action"] == "create"
    assert {"path": "content", "before": None, "after": "one"} in created["attributes"], created
    write_objects(root, {"a": {"content": "two", "tags": {"owner": "alice"}}})

    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [TFO, "apply", str(config)], cwd=root, env=cli_env(tmp_path.resolve()),
        stdin=secondary, stdout=secondary, stderr=secondary, start_new_session=True,
    )  # fmt: skip
    os.close(secondary)
    seen = b""
    try:
        deadline = time.monotonic() + 180
        while b"Apply these changes?" not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([main], [], [], 1.0)
            if ready:
                try:
                    seen += os.read(main, 65536)
                except OSError:
                    break
        text = seen.decode(errors="replace")
        assert "Apply these changes?" in text, (text, proc.poll())
        gate = text.index("Apply these changes?")
        diff = text.index('content: "one" -> "two"')
        assert diff < gate, text
        assert "filestore_object.a" in text[:gate]
        # On a terminal the diff is in colour: the update's `~` symbols are yellow.
        assert f"  {YELLOW}~{RESET} filestore_object.a" in text[:gate], text
        assert f'{YELLOW}~{RESET} content: "one" -> "two"' in text[:gate], text
        # tfo show answers while the run waits at its gate: from terraform's own saved plan.
        run_id = text.split("Plan for run ")[1].split(":")[0]
        shown = tfo.run("show", run_id, "--state-dir", root / ".tfo")
        assert shown.code == 0, shown
        assert 'content: "one" -> "two"' in shown.stdout
        assert "terraform's saved plan" in shown.stdout and "filestore_object.a" in shown.stdout
        os.write(main, b"no\n")
        assert proc.wait(timeout=120) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
    # After the run: the structured diff, in text and --json.
    after = tfo.run("show", run_id, "--state-dir", root / ".tfo", "--json")
    assert after.code == 0, after
    files = after.json()["workspaces"]["files"]
    assert files["plan_text"] is None  # the saved plan is gone with the run
    change = {"path": "content", "before": "one", "after": "two"}
    assert change in by_address(files)["filestore_object.a"]["attributes"]
    assert set(after.json()["workspaces"]) == {"files", "nul"}
    full = tfo.run("show", run_id, "--state-dir", root / ".tfo")
    assert full.code == 0, full
    assert "  nul: no changes" in full.stdout and "  files: " in full.stdout
    assert "\033[" not in full.stdout  # no colour off a terminal

    # -w: only that workspace, in text and --json.
    only = tfo.run("show", run_id, "--state-dir", root / ".tfo", "-w", "files")
    assert only.code == 0, only
    assert "  files: " in only.stdout and 'content: "one" -> "two"' in only.stdout
    assert "  nul:" not in only.stdout, only.stdout
    only_json = tfo.run("show", run_id, "--state-dir", root / ".tfo", "-w", "files", "--json")
    assert only_json.code == 0, only_json
    assert list(only_json.json()["workspaces"]) == ["files"]
    assert only_json.json()["workspaces"]["files"] == files
    missing = tfo.run("show", run_id, "--state-dir", root / ".tfo", "-w", "nope")
    assert missing.code == 1, missing
    assert missing.stdout == ""
    assert missing.stderr.splitlines() == [f"tfo: error: run {run_id} has no workspace 'nope'"], missing.stderr

    # `tfo status --json` of the rejected run carries the same attributes.
    status = tfo.run("status", run_id, "--state-dir", root / ".tfo", "--json")
    assert status.code == 1, status  # rejected
    assert status.json()["status"] == "rejected"
    assert change in by_address(status.json()["workspaces"]["files"])["filestore_object.a"]["attributes"]


def assert_bounded(attributes: list[dict[str, Any]]) -> None:
    """Both sides of every attribute within DIFF_MAX_VALUE_CHARS; the 1 MB `content` cut."""
    assert 0 < len(attributes) <= DIFF_MAX_ATTRIBUTES
    for a in attributes:
        for side in (a["before"], a["after"]):
            shown = side if isinstance(side, str) else json.dumps(side)
            assert len(shown) <= DIFF_MAX_VALUE_CHARS, (a["path"], len(shown))
    content = next(a for a in attributes if a["path"] == "content")
    assert content["before"] == "x"
    # A cut value keeps its head and ends with the cut marker (see AttributeChange).
    assert content["after"] == "y" * (DIFF_MAX_VALUE_CHARS - len(CUT_MARKER)) + CUT_MARKER


async def test_huge_diffs_stay_bounded_in_every_payload(  # type: ignore[no-untyped-def]
    temporal_env, tfo: Tfo, terraform: Terraform, tmp_path: Path, task_queue: str
) -> None:
    started = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    root = tmp_path.resolve() / "stack"
    tags = {f"k{i:03d}": "a" for i in range(500)}
    config = filestore_stack(root, terraform, {"big": {"content": "x", "tags": tags}}, top={"task_queue": task_queue})
    applied = await run_stack(temporal_env.client, config, mode="apply")
    assert applied.status.value == "succeeded", applied
    write_objects(root, {"big": {"content": "y" * (1 << 20), "tags": {k: "b" for k in tags}}})
    report = await run_stack(temporal_env.client, config, mode="plan")
    (big,) = report.workspaces["files"].resources
    assert big.truncated and report.workspaces["files"].diff_truncated
    assert_bounded([a.model_dump() for a in big.attributes])
    assert len(json.dumps([r.public_json() for r in report.workspaces["files"].resources])) <= DIFF_MAX_WORKSPACE_BYTES
    found = await executions(temporal_env.client, f"StartTime >= '{started}' AND TaskQueue = '{task_queue}'")
    assert {e.workflow_type for e in found} >= {"ParentWorkflow", "DriftLedgerWorkflow"}
    largest = max(largest_blob(e.history) for e in found)
    assert largest < BLOB_WARN, largest

    # `tfo plan --json` shows the same bounded diff (its own embedded server and state dir).
    planned = tfo.run("plan", config, "--json", "--state-dir", tmp_path / "cli-state")
    assert planned.code == 2, planned
    (shown,) = planned.json()["workspaces"]["files"]["resources"]
    assert shown["truncated"] and planned.json()["workspaces"]["files"]["diff_truncated"]
    assert_bounded(shown["attributes"])
    assert len(planned.stdout) < 2 * DIFF_MAX_WORKSPACE_BYTES


def test_a_sensitive_attribute_never_leaks(tfo: Tfo, terraform: Terraform, tmp_path: Path) -> None:
    """A secret attribute changed in a plan and drifted outside terraform: zero hits anywhere."""
    root = tmp_path.resolve() / "stack"
    config = filestore_stack(root, terraform, {"s": {"content": "marker-4f2a", "secret": CANARY + "-v1"}})
    state = root / ".tfo"
    assert tfo.run("apply", config, "--auto-approve").code == 0
    outputs = []
    # Drifted outside terraform, and changed in the config.
    path = root / "objects" / "s.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "secret": CANARY + "-drifted"}))
    write_objects(root, {"s": {"content": "marker-4f2a-v2", "secret": CANARY + "-v2"}})
    planned = tfo.run("plan", config, "--json")
    outputs.append(planned.stdout + planned.stderr)
    run_id = planned.json()["run_id"]
    for args in (
        ("show", run_id, "--state-dir", state),
        ("show", run_id, "--state-dir", state, "--json"),
        ("drift", config, "--json"),
        ("drift", config),
        ("status", run_id, "--json", "--state-dir", state),
    ):
        result = tfo.run(*args)
        assert result.code in (0, 2), result  # `tfo status` of a plan with changes exits 2
        outputs.append(result.stdout + result.stderr)
    for text in outputs:
        assert CANARY not in text
    assert "(sensitive)" in outputs[0]
    # The state dir holds the embedded server's database (every history) and tfo's files;
    # terraform's own state and the object files are outside it.
    files = [p for p in state.rglob("*") if p.is_file()]
    assert [p for p in files if CANARY.encode() in p.read_bytes()] == []
    # The search can find what is there: the plain attribute's new value is in the histories.
    assert any(b"marker-4f2a-v2" in p.read_bytes() for p in files)
