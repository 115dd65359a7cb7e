"""Drift remediation on real components: the daemon, terraform, a provider whose refresh
reads the world (devtools/test_provider.py) and a real apprise receiver.

Three workspaces: `fix` (remediate: propose), `self` (auto, an update-only fix) and
`guarded` (auto, whose fix would replace its object). Checks start with
`tfo schedules trigger`; a proposal is approved with the command its alert names.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from devtools.offline_terraform import filestore_provider_available
from tests.conftest import Terraform
from tests.integration.cli_helpers import Tfo
from tests.integration.drift_helpers import AlertReceiver, Daemon, running_daemon, wait_for
from tests.stacks import filestore_main_tf

pytestmark = pytest.mark.skipif(not filestore_provider_available(), reason="the tf package is not installed")
NAME = "remed"
MODES = {"fix": "propose", "self": "auto", "guarded": "auto"}


def write_stack(root: Path, terraform: Terraform, hook: str) -> Path:
    objects = root / "objects"
    objects.mkdir(parents=True)
    for ws in MODES:
        (root / ws).mkdir()
        attrs = {"path": str(objects / f"{ws}.json"), "content": f"{ws}-v1"}
        (root / ws / "main.tf").write_text(filestore_main_tf({ws: attrs}))
    doc = {
        "name": NAME,
        "terraform": {"binary": terraform.binary, "heartbeat_timeout": "5s"},
        "workspaces": [{"name": ws, "dir": ws, "remediate": mode} for ws, mode in MODES.items()],
        "schedules": [{"name": "drift", "every": "24h"}],
        "alerts": {"urls": [hook]},
    }
    config = root / "infra.yaml"
    config.write_text(json.dumps(doc))
    return config


def edit_object(root: Path, ws: str, content: str) -> None:
    path = root / "objects" / f"{ws}.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "content": content}))


def move_in_state(root: Path, ws: str) -> None:
    """Someone edited the state: the object now lives at another path (its fix is a replace)."""
    state_file = root / ws / "terraform.tfstate"
    state = json.loads(state_file.read_text())
    attrs = state["resources"][0]["instances"][0]["attributes"]
    moved = Path(attrs["path"]).with_name(f"{ws}-moved.json")
    moved.write_text(Path(attrs["path"]).read_text())
    attrs["path"] = attrs["id"] = str(moved)
    state["serial"] += 1
    state_file.write_text(json.dumps(state))


def check(tfo: Tfo, config: Path, daemon: Daemon) -> dict[str, Any]:
    before = drift(tfo, config)["workspaces"].get("fix", {}).get("run_id")
    triggered = tfo.run("schedules", "trigger", config, "drift")
    assert triggered.code == 0, triggered

    def recorded() -> dict[str, Any] | None:
        doc = drift(tfo, config)
        run_id = doc["workspaces"].get("fix", {}).get("run_id")
        return doc if run_id and run_id != before and "-drift-" in run_id else None

    try:
        return wait_for("the triggered check to reach the ledger", recorded)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{daemon.diagnose()}") from None


def drift(tfo: Tfo, config: Path) -> dict[str, Any]:
    result = tfo.run("drift", config, "--json")
    assert result.code == 0, result
    doc: dict[str, Any] = result.json()
    return doc


def alerts_for(hook: AlertReceiver, ws: str) -> list[dict[str, Any]]:
    return [a for a in hook.received() if a["title"].endswith(f": {NAME}/{ws}")]


def titles_for(hook: AlertReceiver, ws: str) -> list[str]:
    return [a["title"].split(":")[0] for a in alerts_for(hook, ws)]


def run_status(tfo: Tfo, run_id: str, state: Path) -> dict[str, Any]:
    result = tfo.run("status", run_id, "--json", "--state-dir", state)
    assert result.code in (0, 2), result
    doc: dict[str, Any] = result.json()
    return doc


def test_propose_and_auto_remediation(tfo: Tfo, terraform: Terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve() / "stack"
    state = root / ".tfo"
    with AlertReceiver().serving() as hook:
        config = write_stack(root, terraform, hook.url)
        applied = tfo.run("apply", config, "--auto-approve", idle=state)
        assert applied.code == 0, applied
        with running_daemon(config, tmp_path.resolve(), logs=tmp_path / "daemon") as daemon:
            doc = check(tfo, config, daemon)
            assert {ws["status"] for ws in doc["workspaces"].values()} == {"clean"}, doc

            # Out-of-band edits: `fix` proposes and waits, `self` fixes itself.
            edit_object(root, "fix", "hand-edited")
            edit_object(root, "self", "hand-edited")
            doc = check(tfo, config, daemon)
            assert doc["workspaces"]["fix"]["status"] == "drifted", doc
            wait_for("the proposal alert", lambda: titles_for(hook, "fix") == ["Drift fix proposed"])
            (proposal,) = alerts_for(hook, "fix")
            run_id = re.search(r"remediation run: (\S+)", proposal["message"]).group(1)  # type: ignore[union-attr]
            assert 'content: "fix-v1" -> "hand-edited"' in proposal["message"], proposal["message"]
            waiting = wait_for(
                "the proposal at the gate",
                lambda: (s := run_status(tfo, run_id, state))["status"] == "awaiting_approval" and s,
            )
            assert waiting["trigger"] == "remediation" and waiting["mode"] == "apply", waiting

            wait_for("the automatic fix", lambda: "Drift resolved" in titles_for(hook, "self"))
            assert titles_for(hook, "self") == ["Drift fix proposed", "Drift fix applied", "Drift resolved"]
            assert json.loads((root / "objects" / "self.json").read_text())["content"] == "self-v1"

            # A second check while the proposal is open: no second proposal, no new alert.
            seen = len(hook.received())
            doc = check(tfo, config, daemon)
            assert doc["workspaces"]["fix"]["status"] == "drifted"
            assert doc["workspaces"]["self"]["status"] == "clean"
            assert len(hook.received()) == seen, hook.titles()
            assert run_status(tfo, run_id, state)["status"] == "awaiting_approval"

            # Approved with the alert's own command: applied, then one "resolved".
            (command,) = [line for line in proposal["message"].splitlines() if line.startswith("approve: ")]
            approved = tfo.run(*shlex.split(command.removeprefix("approve: tfo ")))
            assert approved.code == 0, approved
            wait_for("the fix's alerts", lambda: "Drift resolved" in titles_for(hook, "fix"))
            assert titles_for(hook, "fix") == ["Drift fix proposed", "Drift fix applied", "Drift resolved"]
            assert json.loads((root / "objects" / "fix.json").read_text())["content"] == "fix-v1"
            seen = len(hook.received())
            doc = check(tfo, config, daemon)
            assert {ws["status"] for ws in doc["workspaces"].values()} == {"clean"}, doc
            assert len(hook.received()) == seen, hook.titles()

            # `auto`, but the fix would replace: it waits for a human.
            move_in_state(root, "guarded")
            doc = check(tfo, config, daemon)
            assert doc["workspaces"]["guarded"]["status"] == "drifted", doc
            wait_for("the guarded proposal", lambda: titles_for(hook, "guarded") == ["Drift fix proposed"])
            (guarded,) = alerts_for(hook, "guarded")
            guarded_run = re.search(r"remediation run: (\S+)", guarded["message"]).group(1)  # type: ignore[union-attr]
            held = wait_for(
                "the destructive fix at the gate",
                lambda: (s := run_status(tfo, guarded_run, state))["status"] == "awaiting_approval" and s,
            )
            assert held["workspaces"]["guarded"]["changes"]["replace"] == 1, held
            assert "it waits" in guarded["message"]
