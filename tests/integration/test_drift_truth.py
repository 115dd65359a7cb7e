"""Drift truth on real components: the daemon, terraform and a provider whose refresh reads
the world (devtools/test_provider.py), a real /metrics scrape and a real apprise receiver.

One stack of five workspaces walks through every case of the issue, each check
started with `tfo schedules trigger` so that the test decides when checks happen:
out-of-band drift, an unapplied `.tf` edit, an output-only edit, a changed upstream
input, `terraform state rm`, an ignore rule, an HCL error in the middle, history and
a daemon restart.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devtools.offline_terraform import filestore_provider_available
from tests.conftest import Terraform
from tests.integration.cli_helpers import HANG_TIMEOUT, Tfo
from tests.integration.drift_helpers import AlertReceiver, Daemon, Metrics, running_daemon, wait_for
from tests.stacks import filestore_main_tf

pytestmark = pytest.mark.skipif(not filestore_provider_available(), reason="the tf package is not installed")
NAME = "truth"



def terraform_version(binary: str) -> tuple[int, int]:
    out = subprocess.run([binary, "version", "-json"], capture_output=True, text=True, check=True, timeout=60)
    major, minor, *_ = json.loads(out.stdout)["terraform_version"].split(".")
    return int(major), int(minor)


class Stack:
    """Five workspaces: store -> app -> edge, plus solo and extra on their own."""

    def __init__(self, root: Path, terraform: Terraform, hook: str) -> None:
        self.root, self.terraform = root, terraform
        self.objects = root / "objects"
        self.objects.mkdir(parents=True)
        self.write("store", {"a": {"content": "v1", "tags": {"owner": "alice", "scan": "0"}}},
                   extra='output "content" {\n  value = filestore_object.a.content\n}\n')
        self.write_consumer("app", "b", "content", 'output "name" {\n  value = filestore_object.b.content\n}\n')
        self.write_consumer("edge", "c", "name")
        self.write("solo", {"d": {"content": "d1"}})
        self.write("extra", {"e": {"content": "e1"}})
        workspaces = [
            {"name": "store", "dir": "store"},
            {"name": "app", "dir": "app", "dependsOn": ["store"],
             "inputs": [{"sourceWorkspace": "store", "sourceOutput": "content", "targetVar": "content"}]},
            {"name": "edge", "dir": "edge", "dependsOn": ["app"],
             "inputs": [{"sourceWorkspace": "app", "sourceOutput": "name", "targetVar": "name"}]},
            {"name": "solo", "dir": "solo"},
            {"name": "extra", "dir": "extra"},
        ]  # fmt: skip
        doc = {
            "name": NAME,
            "terraform": {"binary": terraform.binary, "heartbeat_timeout": "5s", "lock_timeout": "30s"},
            "workspaces": workspaces,
            "schedules": [{"name": "drift", "every": "24h"}],
            "alerts": {"urls": [hook]},
            "drift": {"ignore": [
                {"workspaces": ["store"], "resources": ["filestore_object.*"], "attributes": ["tags.scan"],
                 "reason": "rewritten by the scanner"},
            ]},
        }  # fmt: skip
        self.config = root / "infra.yaml"
        self.config.write_text(json.dumps(doc))

    def write(self, ws: str, objects: dict[str, dict[str, Any]], extra: str = "") -> None:
        directory = self.root / ws
        directory.mkdir(exist_ok=True)
        for name, attrs in objects.items():
            attrs.setdefault("path", str(self.objects / f"{name}.json"))
        (directory / "main.tf").write_text(filestore_main_tf(objects) + extra)

    def write_consumer(self, ws: str, name: str, var: str, extra: str = "") -> None:
        """A workspace whose object's content is an upstream output (a variable)."""
        resource = (
            f'variable "{var}" {{\n  type = string\n}}\n'
            f'resource "filestore_object" "{name}" {{\n  path    = "{self.objects / f"{name}.json"}"\n'
            f'  content = "{ws}-${{var.{var}}}"\n}}\n'
        )
        (self.root / ws).mkdir(exist_ok=True)
        (self.root / ws / "main.tf").write_text(filestore_main_tf({}) + resource + extra)

    def edit_object(self, name: str, **changes: Any) -> None:
        path = self.objects / f"{name}.json"
        data = json.loads(path.read_text())
        for key, value in changes.items():
            if isinstance(value, dict):
                data[key] = {**(data.get(key) or {}), **value}
            else:
                data[key] = value
        path.write_text(json.dumps(data))

    def terraform_run(self, ws: str, *args: str) -> None:
        subprocess.run(
            [self.terraform.binary, *args], cwd=self.root / ws, check=True, capture_output=True, timeout=HANG_TIMEOUT
        )


class Checks:
    """Start a check of every workspace and wait until the ledger has folded it in."""

    def __init__(self, tfo: Tfo, stack: Stack, daemon: Daemon) -> None:
        self.tfo, self.stack, self.daemon = tfo, stack, daemon

    def drift(self, *extra: str) -> dict[str, Any]:
        result = self.tfo.run("drift", self.stack.config, "--json", *extra)
        assert result.code == 0, result
        doc: dict[str, Any] = result.json()
        return doc

    def run(self) -> dict[str, Any]:
        before = self.drift()["workspaces"].get("solo", {}).get("run_id")
        triggered = self.tfo.run("schedules", "trigger", self.stack.config, "drift")
        assert triggered.code == 0, triggered

        def recorded() -> dict[str, Any] | None:
            doc = self.drift()
            run_id = doc["workspaces"].get("solo", {}).get("run_id")
            return doc if run_id and run_id != before and "-drift-" in run_id else None

        try:
            return wait_for("the triggered check to reach the ledger", recorded)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.daemon.diagnose()}") from None


def scraped(daemon: Daemon, ready: Callable[[Metrics], object]) -> Metrics:
    """A scrape once `ready` holds: /metrics serves a copy the daemon refreshes every 10 s."""
    return wait_for("the metrics to catch up", lambda: m if ready(m := daemon.scrape()) else None)


def statuses(doc: dict[str, Any]) -> dict[str, str]:
    return {name: ws["status"] for name, ws in doc["workspaces"].items()}


def titles(hook: AlertReceiver) -> list[str]:
    return [alert["title"] for alert in hook.received()]


def new_titles(hook: AlertReceiver, seen: int, expected: int) -> list[str]:
    wait_for(f"{expected} new alert(s)", lambda: len(hook.received()) >= seen + expected)
    return titles(hook)[seen:]


def test_drift_truth_on_a_real_stack(tfo: Tfo, terraform: Terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve() / "stack"
    state = root / ".tfo"
    with AlertReceiver().serving() as hook:
        stack = Stack(root, terraform, hook.url)
        applied = tfo.run("apply", stack.config, "--auto-approve", idle=state)
        assert applied.code == 0, applied
        with running_daemon(stack.config, tmp_path.resolve(), logs=tmp_path / "daemon-1") as daemon:
            checks = Checks(tfo, stack, daemon)
            doc = checks.run()
            assert set(statuses(doc).values()) == {"clean"}, doc
            assert hook.received() == []

            # Out-of-band: a real object edited outside terraform.
            stack.edit_object("a", content="edited-by-hand", tags={"owner": "mallory"})
            doc = checks.run()
            store = doc["workspaces"]["store"]
            assert (store["status"], store["cause"]) == ("drifted", "out_of_band"), store
            assert doc["workspaces"]["app"]["at_risk"] and doc["workspaces"]["app"]["at_risk_from"] == ["store.content"]
            (drifted,) = store["drift"]
            attrs = {a["path"]: (a["before"], a["after"]) for a in drifted["attributes"]}
            assert attrs["content"] == ("v1", "edited-by-hand"), drifted
            assert attrs["tags.owner"] == ("alice", "mallory"), drifted
            assert new_titles(hook, 0, 1) == [f"Drift detected: {NAME}/store"]
            (alert,) = hook.received()
            assert 'content: "v1" -> "edited-by-hand"' in alert["message"], alert["message"]
            m = scraped(daemon, lambda m: m.get("tfo_workspace_drifted", config=NAME, workspace="store") == 1)
            assert m.get("tfo_workspace_check_status", config=NAME, workspace="store", status="drifted") == 1
            since = m.get("tfo_workspace_status_since_timestamp_seconds", config=NAME, workspace="store")
            assert since is not None and since > 0

            # Fixed by an apply: resolved, once.
            fixed = tfo.run("apply", stack.config, "-w", "store", "--auto-approve")
            assert fixed.code == 0, fixed
            doc = checks.run()
            assert doc["workspaces"]["store"]["status"] == "clean"
            assert new_titles(hook, 1, 1) == [f"Drift resolved: {NAME}/store"]

            # An ignored attribute changed by a scanner: still clean, and listed as ignored.
            stack.edit_object("a", tags={"scan": "42"})
            doc = checks.run()
            store = doc["workspaces"]["store"]
            assert store["status"] == "clean", store
            assert {i["address"] for i in store["ignored"]} == {"filestore_object.a"}
            assert {i["reason"] for i in store["ignored"]} == {"rewritten by the scanner"}

            # A .tf edit nobody applied, an output-only edit, and an upstream applied with a
            # new output value whose consumer is not applied yet.
            stack.write("solo", {"d": {"content": "d2"}})
            stack.write_consumer("edge", "c", "name", 'output "extra" {\n  value = "x"\n}\n')
            stack.write("store", {"a": {"content": "v2", "tags": {"owner": "alice", "scan": "42"}}},
                        extra='output "content" {\n  value = filestore_object.a.content\n}\n')
            upstream = tfo.run("apply", stack.config, "-w", "store", "--auto-approve")
            assert upstream.code == 0, upstream
            seen = len(hook.received())
            doc = checks.run()
            ws = doc["workspaces"]
            assert (ws["solo"]["status"], ws["solo"]["cause"]) == ("pending", "code"), ws["solo"]
            assert (ws["edge"]["status"], ws["edge"]["output_changes"]) == ("pending", ["extra"]), ws["edge"]
            assert ws["edge"]["changes"] == {"create": 0, "update": 0, "delete": 0, "replace": 0}
            assert (ws["app"]["status"], ws["app"]["cause"]) == ("pending", "inputs"), ws["app"]
            assert ws["store"]["status"] == "clean"
            got = sorted(new_titles(hook, seen, 3))
            assert got == sorted(f"Unapplied changes: {NAME}/{n}" for n in ("solo", "edge", "app")), got
            m = scraped(
                daemon,
                lambda m: all(
                    m.get("tfo_workspace_check_status", config=NAME, workspace=n, status="pending") == 1
                    for n in ("solo", "edge", "app")
                ),
            )
            for name in ("solo", "edge", "app"):
                assert m.get("tfo_workspace_drifted", config=NAME, workspace=name) == 0
                assert m.get("tfo_workspace_check_status", config=NAME, workspace=name, status="pending") == 1

            # A state edit: the resource vanished from state, nothing changed on tfo's side.
            stack.terraform_run("extra", "state", "rm", "filestore_object.e")
            seen = len(hook.received())
            doc = checks.run()
            assert (doc["workspaces"]["extra"]["status"], doc["workspaces"]["extra"]["cause"]) == ("drifted", "state")
            assert new_titles(hook, seen, 1) == [f"Drift detected: {NAME}/extra"]

            # An HCL error in the middle: errored, its dependent unknown (never clean), one alert.
            (root / "app" / "broken.tf").write_text('resource "filestore_object" "x" {\n  content = \n}\n')
            seen = len(hook.received())
            doc = checks.run()
            ws = doc["workspaces"]
            assert ws["app"]["status"] == "errored", ws["app"]
            assert ws["edge"]["status"] == "unknown" and "app" in ws["edge"]["reason"], ws["edge"]
            assert (ws["store"]["status"], ws["solo"]["status"]) == ("clean", "pending")
            assert new_titles(hook, seen, 1) == [f"Drift check failed: {NAME}/app"]
            m = scraped(
                daemon, lambda m: m.get("tfo_workspace_check_status", config=NAME, workspace="edge", status="unknown")
            )
            assert m.get("tfo_workspace_check_status", config=NAME, workspace="edge", status="unknown") == 1
            assert m.get("tfo_workspace_check_status", config=NAME, workspace="edge", status="clean") == 0

            history = checks.drift("--history", "-w", "store")["workspaces"]
            assert list(history) == ["store"]
            steps = [(t["from"], t["to"]) for t in history["store"]]
            assert steps == [(None, "clean"), ("clean", "drifted"), ("drifted", "clean")], steps
            assert all(t["at"] and t["run_id"] for t in history["store"])
            sinces = {n: w["since"] for n, w in checks.drift()["workspaces"].items()}
            alerts_before_restart = len(hook.received())

        with running_daemon(stack.config, tmp_path.resolve(), logs=tmp_path / "daemon-2") as daemon:
            doc = Checks(tfo, stack, daemon).run()
            assert {n: w["since"] for n, w in doc["workspaces"].items()} == sinces
            assert len(hook.received()) == alerts_before_restart, titles(hook)[alerts_before_restart:]
            # `tfo drift` reads only the ledger: a workspace dir that is gone hides nothing.
            shutil.rmtree(root / "extra")
            assert set(Checks(tfo, stack, daemon).drift()["workspaces"]) == {"store", "app", "edge", "solo", "extra"}


def test_failing_check_block_is_reported_and_the_status_stays_clean(
    tfo: Tfo, terraform: Terraform, tmp_path: Path
) -> None:
    if terraform_version(terraform.binary) < (1, 5):
        pytest.skip("check blocks need terraform >= 1.5 (set TFO_TEST_TERRAFORM)")
    root = tmp_path.resolve() / "stack"
    with AlertReceiver().serving() as hook:
        stack = Stack(root, terraform, hook.url)
        applied = tfo.run("apply", stack.config, "--auto-approve", idle=root / ".tfo")
        assert applied.code == 0, applied
        check = (
            'check "content_is_v1" {\n  assert {\n    condition     = filestore_object.d.content == "v1"\n'
            '    error_message = "solo content is not v1"\n  }\n}\n'
        )
        (root / "solo" / "checks.tf").write_text(check)
        with running_daemon(stack.config, tmp_path.resolve(), logs=tmp_path / "daemon") as daemon:
            doc = Checks(tfo, stack, daemon).run()
            solo = doc["workspaces"]["solo"]
            assert solo["status"] in ("clean", "pending"), solo  # the new file changed the code digest
            (failed,) = solo["checks"]
            assert failed["address"] == "check.content_is_v1" and failed["status"] == "failed", failed
            assert any("solo content is not v1" in msg for msg in failed["messages"]), failed
            wait_for("the check_failed alert", lambda: f"Check failed: {NAME}/solo" in titles(hook))
            scraped(daemon, lambda m: m.get("tfo_workspace_checks_failed", config=NAME, workspace="solo") == 1)
    assert shutil.which(terraform.binary) or Path(terraform.binary).is_file()
