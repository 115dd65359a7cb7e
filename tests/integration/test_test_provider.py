"""The filestore test provider (devtools/test_provider.py) gives real drift on real terraform.

No Temporal here: terraform runs directly, from the same offline mirror as every
other integration test, so a failure points at the provider or the mirror setup.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devtools.offline_terraform import filestore_provider_available
from tests.conftest import Terraform
from tests.stacks import filestore_main_tf

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not filestore_provider_available(), reason="needs the dev extras' `tf` package"),
]

TIMEOUT = 120


def run_terraform(terraform: Terraform, cwd: Path, *args: str) -> str:
    """Run terraform with the session's offline CLI config; return stdout, fail with the output."""
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(terraform.cli_config),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
    }
    done = subprocess.run(
        [terraform.binary, *args, "-no-color"], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, f"terraform {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def saved_plan(terraform: Terraform, cwd: Path) -> dict[str, Any]:
    run_terraform(terraform, cwd, "plan", "-input=false", "-out", "tfplan")
    return json.loads(run_terraform(terraform, cwd, "show", "-json", "tfplan"))


def actions(entries: list[dict[str, Any]], address: str) -> list[str]:
    return [a for entry in entries if entry["address"] == address for a in entry["change"]["actions"]]


def reports_drift(plan: dict[str, Any]) -> bool:
    # Seen in saved plans from both 1.0.3 and 1.11.4; the brief only promised it from 1.1 on.
    major, minor = (int(part) for part in plan["terraform_version"].split(".")[:2])
    return (major, minor) >= (1, 0)


def test_out_of_band_edit_and_delete_show_as_drift(tmp_path: Path, terraform: Terraform) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    target = tmp_path / "objects" / "a.json"
    (ws / "main.tf").write_text(
        filestore_main_tf({"a": {"path": str(target), "content": "v1", "tags": {"team": "net"}, "secret": "s3cret"}})
    )
    run_terraform(terraform, ws, "init", "-input=false")
    run_terraform(terraform, ws, "apply", "-input=false", "-auto-approve")
    assert json.loads(target.read_text()) == {"content": "v1", "tags": {"team": "net"}, "secret": "s3cret"}
    assert target.stat().st_mode & 0o777 == 0o600

    clean = saved_plan(terraform, ws)
    assert actions(clean["resource_changes"], "filestore_object.a") == ["no-op"]
    assert not clean.get("resource_drift")

    target.write_text(json.dumps({"content": "edited", "tags": {"team": "ops"}, "secret": "s3cret"}))
    edited = saved_plan(terraform, ws)
    change = next(r["change"] for r in edited["resource_changes"] if r["address"] == "filestore_object.a")
    assert change["actions"] == ["update"]
    assert (change["before"]["content"], change["after"]["content"]) == ("edited", "v1")
    assert change["before"]["tags"] == {"team": "ops"}
    assert change["after_sensitive"]["secret"] is True
    if reports_drift(edited):
        assert actions(edited["resource_drift"], "filestore_object.a") == ["update"]

    target.unlink()
    deleted = saved_plan(terraform, ws)
    assert actions(deleted["resource_changes"], "filestore_object.a") == ["create"]
    if reports_drift(deleted):
        assert actions(deleted["resource_drift"], "filestore_object.a") == ["delete"]

    run_terraform(terraform, ws, "apply", "-input=false", "-auto-approve")
    assert json.loads(target.read_text())["content"] == "v1"
    run_terraform(terraform, ws, "destroy", "-input=false", "-auto-approve")
    assert not target.exists()
