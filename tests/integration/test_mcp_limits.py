"""MCP limits: inline configs are capped; workspaces on one state share one lock.

(`tfo cancel` ending a run nobody runs is in test_run_control.py.) Real `tfo mcp`
over stdio with a real MCP client, real `tfo` processes and real terraform.
"""

from __future__ import annotations

import re
import time

import yaml

from tests.integration.cli_helpers import HANG_TIMEOUT, Tfo
from tests.reliability.mcp_client import call, mcp_session, text
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import write_stack
from tfo.config.loader import load_config, snapshot


async def _refused(session, **arguments) -> str:  # type: ignore[no-untyped-def]
    result = await session.call_tool("execute_workflow", arguments)
    message = text(result)
    assert result.is_error, message
    assert "\n" not in message and "Traceback" not in message, message
    return message


async def test_inline_configs_are_capped_by_the_servers_flags(tmp_path, terraform) -> None:  # type: ignore[no-untyped-def]
    tmp = tmp_path.resolve()
    root = tmp / "root"
    for name in ("a", "b", "c"):
        (root / name).mkdir(parents=True)
        (root / name / "main.tf").write_text('output "x" {\n  value = 1\n}\n')
    binary = {"binary": "terraform"}
    three = {"terraform": binary, "workspaces": [{"name": n, "dir": n} for n in ("a", "b", "c")]}
    large = {"terraform": binary, "workspaces": [{"name": "a", "dir": "a", "vars": {"blob": "x" * 3000}}]}
    small = {"terraform": binary, "workspaces": [{"name": "a", "dir": "a"}]}
    args = ("--config-root", root, "--max-inline-workspaces", "2", "--max-inline-bytes", "2000")
    async with mcp_session(tmp, tmp / "state", *args, log=tmp / "mcp.log") as session:
        message = await _refused(session, config=three)
        assert "3 workspaces" in message and "at most 2" in message and "--max-inline-workspaces" in message
        message = await _refused(session, config=yaml.safe_dump(three))  # YAML text too
        assert "--max-inline-workspaces" in message
        message = await _refused(session, config=large)
        assert "at most 2000" in message and "--max-inline-bytes" in message, message
        message = await _refused(session, config="workspaces: []\n# " + "y" * 5000)
        assert "--max-inline-bytes" in message, message
        started, _ = await call(session, "execute_workflow", config=small, mode="plan")
        assert started["workflow_id"].startswith("tfo-plan-inline-")


def test_workspaces_on_one_dir_share_one_lock(tmp_path, terraform) -> None:  # type: ignore[no-untyped-def]
    tmp = tmp_path.resolve()
    first = write_stack(tmp / "one", [W("network", sleep=8)], binary=terraform.binary)
    # A second config (another name for the workspace) and a second workspace of the first config:
    # both work on the state in one/network.
    second = tmp / "two" / "infra.yaml"
    second.parent.mkdir()
    entries = [{"name": "vpc", "dir": "../one/network"}]
    second.write_text(yaml.safe_dump({"terraform": {"binary": terraform.binary}, "workspaces": entries}))
    doc = yaml.safe_load(first.read_text())
    doc["workspaces"].append({"name": "network-again", "dir": "network"})
    first.write_text(yaml.safe_dump(doc))
    specs = [ws for cfg in (first, second) for ws in snapshot(load_config(cfg), state_dir=tmp).workspaces]
    keys = {ws.name: ws.lock_key for ws in specs}
    assert keys["network"] == keys["network-again"] == keys["vpc"], keys

    tfo = Tfo(tmp, cwd=tmp)
    state = tmp / "state"
    with tfo.background("apply", first, "-w", "network", "--auto-approve", "--state-dir", state, logs=tmp / "bg") as bg:
        deadline = time.monotonic() + HANG_TIMEOUT
        while "network: running apply" not in bg.stderr():
            assert bg.proc.poll() is None and time.monotonic() < deadline, bg.stderr()
            time.sleep(0.1)
        holder = re.search(r"run (tfo-apply-\S+)", bg.stderr())
        assert holder is not None, bg.stderr()
        locked = tfo.run("plan", second, "--no-wait", "--json", "--state-dir", state)
        finished = bg.finish()
    assert finished.code == 0, str(finished)
    assert locked.code == 1, str(locked)
    error = locked.json()["workspaces"]["vpc"]["error"]
    assert error == f"workspace is locked by run {holder.group(1)}", error
