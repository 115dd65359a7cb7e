"""Throwaway terraform workspaces for tests, laid out from small templates."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROVIDER = """terraform {
  required_providers {
    null = { source = "hashicorp/null", version = "2.1.2" }
  }
}
"""


@dataclass
class WorkspaceTemplate:
    """One null_resource workspace.

    Args:
        outputs: Output name -> HCL expression (e.g. '"vpc-1"', '["a", "b"]').
        variables: Variable name -> HCL type (e.g. "string", "list(string)").
        sleep: Seconds a local-exec provisioner sleeps during create.
        broken: Write invalid HCL instead.
        sensitive_outputs: Output names to mark sensitive.
        trigger: Extra text in the resource's triggers, to force changes.
        fail_marker: If set, local-exec fails once unless this file exists (then creates it).
    """

    name: str
    depends_on: list[str] = field(default_factory=list)
    inputs: list[tuple[str, str, str]] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    sleep: float = 0
    broken: bool = False
    sensitive_outputs: list[str] = field(default_factory=list)
    sensitive_variables: list[str] = field(default_factory=list)
    trigger: str = "v1"
    operations: list[str] | None = None
    task_queue: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def main_tf(self) -> str:
        if self.broken:
            return 'resource "null_resource" "x" {\n  triggers = {\n    a = \n}\n'
        lines = [PROVIDER]
        for var, kind in self.variables.items():
            sensitive = "\n  sensitive = true" if var in self.sensitive_variables else ""
            lines.append(f'variable "{var}" {{\n  type = {kind}{sensitive}\n}}\n')
        triggers = [f'    trigger = "{self.trigger}"']
        for var in self.variables:
            if var in self.sensitive_variables:
                triggers.append(f"    {var} = sha256(jsonencode(var.{var}))")
            else:
                triggers.append(f"    {var} = jsonencode(var.{var})")
        provisioner = ""
        if self.sleep:
            provisioner = (
                '  provisioner "local-exec" {\n'
                f'    command = "sleep {self.sleep}"\n'
                "  }\n"
            )
        lines.append(
            f'resource "null_resource" "{self.name.replace("-", "_")}" {{\n'
            "  triggers = {\n" + "\n".join(triggers) + "\n  }\n" + provisioner + "}\n"
        )
        for out, expr in self.outputs.items():
            sensitive = "\n  sensitive = true" if out in self.sensitive_outputs else ""
            lines.append(f'output "{out}" {{\n  value = {expr}{sensitive}\n}}\n')
        return "\n".join(lines)


def write_stack(
    root: Path,
    workspaces: list[WorkspaceTemplate],
    *,
    binary: str,
    settings: dict[str, Any] | None = None,
    top: dict[str, Any] | None = None,
) -> Path:
    """Write the workspaces and an infra.yaml under `root`; return the config path."""
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for ws in workspaces:
        directory = root / ws.name
        directory.mkdir(exist_ok=True)
        (directory / "main.tf").write_text(ws.main_tf())
        entry: dict[str, Any] = {"name": ws.name, "dir": ws.name, "dependsOn": ws.depends_on}
        if ws.inputs:
            entry["inputs"] = [
                {"sourceWorkspace": s, "sourceOutput": o, "targetVar": t} for s, o, t in ws.inputs
            ]
        if ws.operations is not None:
            entry["operations"] = ws.operations
        if ws.task_queue:
            entry["taskQueue"] = ws.task_queue
        entry.update(ws.extra)
        entries.append(entry)
    terraform = {"binary": binary, "heartbeat_timeout": "5s", "lock_timeout": "30s"}
    terraform.update(settings or {})
    document = {"workspace_root": ".", "terraform": terraform, "workspaces": entries, **(top or {})}
    path = root / "infra.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def state_resources(ws_dir: Path) -> list[str]:
    """Resource addresses in a workspace's local state."""
    state = ws_dir / "terraform.tfstate"
    text = state.read_text() if state.exists() else ""
    if not text.strip():
        # No state, or the empty file terraform's local backend creates when a plan of a
        # never-applied workspace takes its lock (a scheduled check may be running).
        return []
    data = json.loads(text)
    return [f"{r['type']}.{r['name']}" for r in data.get("resources", []) for _ in r.get("instances", [])]


def state_serial(ws_dir: Path) -> int:
    return int(json.loads((ws_dir / "terraform.tfstate").read_text())["serial"])


FILESTORE_PROVIDER = """terraform {
  required_providers {
    filestore = { source = "tfo-test/filestore", version = "0.1.0" }
  }
}
"""


def _hcl_value(value: Any) -> str:
    """A Python string, number, bool or dict of those as an HCL literal."""
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(str(k))} = {_hcl_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, str):
        # JSON string escapes are valid HCL; only template sequences need escaping.
        return json.dumps(value).replace("${", "$${").replace("%{", "%%{")
    return json.dumps(value)


def filestore_main_tf(objects: dict[str, dict[str, Any]]) -> str:
    """A workspace of `filestore_object` resources (devtools/test_provider.py), which can drift.

    Args:
        objects: Resource name -> attributes: `path` and `content` (required), `tags`
            (dict of str) and `secret` (sensitive) optional. Editing or deleting the file at
            `path` outside terraform is drift that the next plan reports.
    """
    blocks = [FILESTORE_PROVIDER]
    for name, attributes in objects.items():
        body = "".join(f"  {key} = {_hcl_value(value)}\n" for key, value in attributes.items())
        blocks.append(f'resource "filestore_object" "{name.replace("-", "_")}" {{\n{body}}}\n')
    return "\n".join(blocks)


def address_actions(resources: list[dict[str, Any]]) -> list[dict[str, str]]:
    """`--json` resources reduced to address and action (the diff is tested on its own)."""
    return [{"address": r["address"], "action": r["action"]} for r in resources]
