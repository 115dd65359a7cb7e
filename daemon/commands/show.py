"""`tfo show RUN_ID [-w WS ...] [--json]`: a run's planned changes per workspace.

While a run's saved plan exists (a run waiting at its gate, in the state dir this
machine can read), the text is terraform's own `terraform show PLANFILE`, which
masks sensitive values. Afterwards, or where the plan is out of reach, it is the
run's structured diff (masked and bounded the same way as in `--json`).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from temporalio.client import Client

from tfo.activities import workdir
from tfo.config.errors import ConfigError, RunError
from tfo.config.loader import LoadedConfig, load_config
from tfo.config.payloads import RunReport
from tfo.daemon import runs
from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.plan_text import has_diff, plan_text
from tfo.daemon.run_control import control_run

SHOW_TIMEOUT = 120


def show(
    run_id: str, conn: ConnectionSettings, *, workspaces: list[str], state_dir: Path | None, as_json: bool
) -> int:
    async def main() -> tuple[RunReport, str | None]:
        async with control_run(conn, run_id, state_dir=state_dir) as ctl:
            ctl.serve()  # embedded: a worker answers for a run that no other tfo process follows
            return await runs.report(ctl.client, run_id), await _config_path(ctl.client, run_id)

    report, config_path = asyncio.run(main())
    unknown = sorted(set(workspaces) - set(report.workspaces))
    if unknown:
        raise RunError(f"run {run_id} has no workspace {unknown[0]!r}")
    where = runs.run_location(run_id) or {}
    plan_dir = state_dir or (Path(str(where["state_dir"])) if "state_dir" in where else None)
    loaded = _load(config_path)
    selected = [n for n in report.workspaces if not workspaces or n in workspaces]
    texts = {n: _terraform_show(report, n, plan_dir, loaded) for n in selected if has_diff(report.workspaces[n])}
    if as_json:
        public = report.public_json()["workspaces"]
        entries: dict[str, dict[str, Any]] = {}
        for name in selected:
            entry = {k: v for k, v in public[name].items() if k != "outputs"}
            entries[name] = {**entry, "plan_text": texts.get(name)}
        doc = {"run_id": report.run_id, "mode": report.mode, "status": report.status.value, "workspaces": entries}
        print(json.dumps(doc))
        return 0
    print(plan_text(report, color=sys.stdout.isatty(), max_lines=None, workspaces=selected))
    for name, text in texts.items():
        if text:
            print(f"\n--- {name}: terraform's saved plan ---\n{text.rstrip()}")
    return 0


async def _config_path(client: Client, run_id: str) -> str | None:
    desc = await client.get_workflow_handle(run_id).describe()
    recorded = (await desc.memo()).get("config")
    return recorded if isinstance(recorded, str) else None


def _load(config_path: str | None) -> LoadedConfig | None:
    if not config_path or not Path(config_path).is_file():
        return None  # an inline (MCP) config, or a file that moved: the structured diff only
    try:
        return load_config(Path(config_path), check_files=False)
    except ConfigError:
        return None


def _terraform_show(report: RunReport, name: str, plan_dir: Path | None, loaded: LoadedConfig | None) -> str | None:
    """terraform's own text of the saved plan, if this machine still has it."""
    if plan_dir is None or loaded is None:
        return None
    plan = workdir.plan_path(str(plan_dir), report.run_id, name)
    try:
        ws = loaded.config.workspace(name)
    except KeyError:
        return None
    binary = shutil.which(ws.binary or loaded.config.terraform.binary)
    if not plan.is_file() or binary is None:
        return None
    try:
        result = subprocess.run(
            [binary, "show", "-no-color", str(plan)],
            cwd=loaded.workspace_dir(ws),
            capture_output=True,
            text=True,
            timeout=SHOW_TIMEOUT,
            env={**os.environ, "TF_IN_AUTOMATION": "1"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None
