"""Secrets never leak: a canary in a sensitive output, in a sensitive variable and in a
sensitive resource attribute (changed in a plan and changed outside terraform, so it
appears in attribute-level diffs and drift) is counted in everything tfo writes or
shows, and must appear zero times.

Scanned: every Temporal history (fetch_history JSON of every workflow on the server)
and the raw bytes of the embedded server's SQLite files; every file in the state dir,
the run index and the log dir; CLI output (text and --json); /metrics; the alerts
received; MCP results; the daemon's and the MCP server's logs. Not scanned: the
terraform.tfstate files in the workspace dirs, which hold the value by design.

With TFO_ENCRYPTION_KEY_FILE set, no payload in history is readable at all.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from pathlib import Path
from typing import Any

import yaml
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.integration.cli_helpers import Result, Tfo
from tests.integration.drift_helpers import AlertReceiver, running_daemon
from tests.reliability.figures import record_figure
from tests.reliability.history import executions, payloads
from tests.reliability.mcp_client import call, mcp_session, wait_done
from tests.reliability.processes import kill_all, processes_mentioning
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import filestore_main_tf, state_resources, write_stack
from tfo.daemon.codec import ENCODING
from tfo.daemon.embedded import EmbeddedServer


def add_vault(root: Path, config: Path, canary_attr: str) -> None:
    """vault: a filestore object (devtools/test_provider.py) whose sensitive `secret` holds the canary."""
    (root / "vault").mkdir(exist_ok=True)
    (root / "objects").mkdir(exist_ok=True)
    objects = {"key": {"path": str(root / "objects" / "key.json"), "content": "vault-plain-77", "secret": canary_attr}}
    (root / "vault" / "main.tf").write_text(filestore_main_tf(objects))
    doc = yaml.safe_load(config.read_text())
    doc["workspaces"].append({"name": "vault", "dir": "vault"})
    config.write_text(yaml.safe_dump(doc, sort_keys=False))


def secret_stack(root: Path, binary: str, *, canary_out: str, canary_var: str, top: dict[str, Any]) -> Path:
    """net: a sensitive output holding canary_out (and a plain one); app: a sensitive variable
    holding canary_var (from a tfvars file) and another fed by net's sensitive output."""
    config = write_stack(
        root,
        [
            W("net", outputs={"vpc_id": '"vpc-plain-0451"', "token": f'"{canary_out}"'}, sensitive_outputs=["token"]),
            W(
                "app",
                depends_on=["net"],
                inputs=[("net", "token", "upstream_token"), ("net", "vpc_id", "vpc_id")],
                variables={"password": "string", "upstream_token": "string", "vpc_id": "string"},
                sensitive_variables=["password", "upstream_token"],
                outputs={"name": '"app-1"'},
                extra={"tfvars": "app/secret.tfvars"},
            ),
        ],
        binary=binary,
        top=top,
    )
    (root / "app" / "secret.tfvars").write_text(f'password = "{canary_var}"\n')
    return config


class Scan:
    """Counts occurrences of the canaries (also base64-encoded) in what it is given."""

    def __init__(self, *canaries: str) -> None:
        self.needles = [c.encode() for c in canaries]
        self.needles += [base64.b64encode(c.encode()) for c in canaries]
        self.hits: dict[str, int] = {}
        self.places = 0

    def text(self, where: str, content: str | bytes) -> None:
        data = content.encode() if isinstance(content, str) else content
        self.places += 1
        found = sum(data.count(n) for n in self.needles)
        if found:
            self.hits[where] = self.hits.get(where, 0) + found

    def tree(self, where: str, root: Path, *, skip: tuple[str, ...] = ()) -> int:
        files = 0
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink() and path.name not in skip:
                self.text(f"{where}: {path.relative_to(root)}", path.read_bytes())
                files += 1
        return files

    def total(self) -> int:
        return sum(self.hits.values())


async def histories(address: str, **options: Any) -> list[Any]:
    client = await Client.connect(address, data_converter=pydantic_data_converter, **options)
    return await executions(client)


def test_canaries_appear_nowhere(tfo: Tfo, terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve()
    canary_out, canary_var = f"canary-out-{uuid.uuid4().hex}", f"canary-var-{uuid.uuid4().hex}"
    canary_attr = f"canary-attr-{uuid.uuid4().hex}"
    scan = Scan(canary_out, canary_var, canary_attr)
    state = root / "state"
    with AlertReceiver().serving() as hook:
        top = {"name": "secrets", "alerts": {"urls": [hook.url]}, "schedules": [{"name": "drift", "every": "1h"}]}
        config = secret_stack(root / "stack", terraform.binary, canary_out=canary_out, canary_var=canary_var, top=top)
        add_vault(root / "stack", config, canary_attr + "-v1")
        outputs: list[Result] = []

        def cli(*args: str | Path) -> Result:
            result = tfo.run(*args)
            outputs.append(result)
            return result

        assert cli("plan", config, "--state-dir", state).code == 2  # app waits for net's apply
        applied = cli("apply", config, "--auto-approve", "--json", "--state-dir", state)
        assert applied.code == 0, applied
        run_id = applied.json()["run_id"]
        assert applied.json()["workspaces"]["net"]["outputs"] == {"vpc_id": "vpc-plain-0451", "token": "(sensitive)"}
        planned = cli("plan", config, "--json", "--state-dir", state)
        assert planned.code == 0, planned
        for args in (
            ("status", run_id),
            ("status", run_id, "--json"),
            ("runs", config),
            ("runs", config, "--json"),
            ("drift", config),
            ("drift", config, "--json"),
        ):
            result = cli(*args, "--state-dir", state)
            assert result.code == 0, result
        # The secret attribute changes in the config and, differently, outside terraform.
        key = root / "stack" / "objects" / "key.json"
        key.write_text(json.dumps({**json.loads(key.read_text()), "secret": canary_attr + "-drifted"}))
        main_tf = root / "stack" / "vault" / "main.tf"
        main_tf.write_text(main_tf.read_text().replace(canary_attr + "-v1", canary_attr + "-v2"))
        changed = cli("plan", config, "--json", "--state-dir", state)
        assert changed.code == 2, changed
        vault = changed.json()["workspaces"]["vault"]
        assert {"path": "secret", "before": "(sensitive)", "after": "(sensitive)"} in vault["drift"][0]["attributes"]
        diff_run = changed.json()["run_id"]
        for args in (("show", diff_run), ("show", diff_run, "--json"), ("drift", config, "--json")):
            assert cli(*args, "--state-dir", state).code == 0
        # At the gate, `tfo show` prints terraform's own text of the saved plan too.
        with tfo.background("apply", config, "-w", "vault", "--state-dir", state, logs=root / "gate") as gate:
            waiting = gate.wait_for_approval()
            shown = cli("show", waiting, "--state-dir", state)
            assert shown.code == 0 and "terraform's saved plan" in shown.stdout, shown
            assert cli("show", waiting, "--json", "--state-dir", state).code == 0
            assert cli("reject", waiting, "--state-dir", state).code == 0
            gated = gate.finish()
        outputs.append(gated)
        # The canaries really went through: terraform's own state holds them.
        assert canary_out in (root / "stack" / "net" / "terraform.tfstate").read_text()
        assert canary_attr in (root / "stack" / "vault" / "terraform.tfstate").read_text()
        assert state_resources(root / "stack" / "app") == ["null_resource.app"]

        try:
            with running_daemon(config, root, logs=root / "daemon", state_dir=state) as daemon:
                metrics = _scrape_text(daemon.metrics_port)
                assert "tfo_workspace_drifted" in metrics
                address = "127.0.0.1:" + str(json.loads((state / "server" / "server.json").read_text())["port"])
                mcp_results = asyncio.run(_mcp(root, state, run_id, diff_run))
                found = asyncio.run(histories(address))
                assert hook.received(), "no alert was sent"
                code = daemon.terminate()
                assert code == 0, daemon.stderr()
        finally:
            kill_all(processes_mentioning(str(root / "stack")))
        alerts = hook.received()
    assert any(a["title"] == "Drift detected: secrets/vault" and "(sensitive)" in a["message"] for a in alerts), alerts

    for result in outputs:
        scan.text(f"tfo {' '.join(result.args[:1])} stdout", result.stdout)
        scan.text(f"tfo {' '.join(result.args[:1])} stderr", result.stderr)
    scan.text("/metrics", metrics)
    scan.text("alerts", json.dumps(alerts))
    for name, content in mcp_results.items():
        scan.text(f"mcp {name}", content)
    for execution in found:
        scan.text(f"history {execution.workflow_id}", execution.history.to_json())
    databases = sorted(state.glob("temporal.db*"))
    assert databases
    control = b"".join(db.read_bytes() for db in databases)
    # The db scan can see plaintext payloads: the plain output is there, by value.
    assert b"vpc-plain-0451" in control
    files = scan.tree("state dir", state) + scan.tree("run index", root / "xdg") + scan.tree("logs", root / "logs")
    scan.tree("daemon log", root / "daemon")
    scan.text("mcp log", (root / "mcp.log").read_bytes())

    record_figure("secrets: places scanned", scan.places)
    record_figure("secrets: workflow histories scanned", len(found))
    record_figure("secrets: files scanned in the state dir, run index and logs", files)
    record_figure("secrets: canary hits", scan.total())
    assert scan.hits == {}


def _scrape_text(port: int) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        return str(response.read().decode())


async def _mcp(root: Path, state: Path, run_id: str, diff_run: str) -> dict[str, str]:
    results: dict[str, str] = {}
    async with mcp_session(root, state, "--config-root", root, log=root / "mcp.log") as session:
        for tool, args in (
            ("get_workflow_status", {"workflow_id": run_id}),
            ("get_drift_report", {"config_path": "stack/infra.yaml"}),
            ("list_workflows", {"config_path": "stack/infra.yaml"}),
            ("list_runs", {}),
            ("get_plan_diff", {"workflow_id": diff_run}),
        ):
            structured, shown = await call(session, tool, **args)
            results[tool] = json.dumps(structured) + "\n" + shown
            if tool in ("get_drift_report", "get_plan_diff"):  # the masked drift is there, not left out
                drift = structured["workspaces"]["vault"]["drift"]
                assert {"path": "secret", "before": "(sensitive)", "after": "(sensitive)"} in drift[0]["attributes"]
        started, _ = await call(session, "execute_workflow", config_path="stack/infra.yaml")
        status, shown = await wait_done(session, started["workflow_id"])
        assert status["status"] == "succeeded", shown
        results["execute_workflow"] = json.dumps(status) + "\n" + shown
    return results


def test_with_an_encryption_key_no_payload_is_readable(tfo: Tfo, terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve()
    key_file = root / "keys"
    key_file.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    tfo.env["TFO_ENCRYPTION_KEY_FILE"] = str(key_file)
    probe = f"plain-probe-{uuid.uuid4().hex[:12]}"
    config = write_stack(
        root / "stack",
        [
            W("encprobe", outputs={"value": f'"{probe}"'}),
            W("after", depends_on=["encprobe"], inputs=[("encprobe", "value", "v")], variables={"v": "string"}),
        ],
        binary=terraform.binary,
        top={"name": "encrypted"},
    )
    state = root / "state"
    applied = tfo.run("apply", config, "--auto-approve", "--json", "--state-dir", state, idle=state)
    assert applied.code == 0, applied
    assert applied.json()["workspaces"]["encprobe"]["outputs"] == {"value": probe}  # the CLI decrypts
    status = tfo.run("status", applied.json()["run_id"], "--json", "--state-dir", state, idle=state)
    assert status.code == 0 and status.json() == applied.json(), status

    # Read the history as someone without the key would: no codec.
    with EmbeddedServer(state) as server:
        found = asyncio.run(histories(server.address))
    seen = [p for e in found for p in payloads(e.history)]
    plain = [p for p in seen if p.metadata.get("encoding") != ENCODING]
    readable = [p for p in seen if probe.encode() in p.data or b"encprobe" in p.data]
    databases = b"".join(db.read_bytes() for db in sorted(state.glob("temporal.db*")))
    record_figure("encryption: payloads in history", len(seen))
    record_figure("encryption: payloads readable without the key", len(plain) + len(readable))
    assert {e.workflow_type for e in found} >= {"ParentWorkflow", "DriftLedgerWorkflow"}
    assert len(seen) > 20
    assert plain == [] and readable == []
    assert probe.encode() not in databases  # an output value exists only inside payloads
