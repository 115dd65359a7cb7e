"""A worker runs only the binaries its operator allowed, whatever a workflow payload says.

The canary is a shell script named `terraform` that writes a file if it is ever
executed: an MCP agent's inline config names it, and "another local user" starts a
ParentWorkflow naming it directly on a daemon's unauthenticated embedded server.
It must never run; the workspace fails with a clear, non-retryable error.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from tests.integration.cli_helpers import HANG_TIMEOUT
from tests.integration.drift_helpers import running_daemon
from tests.reliability.mcp_client import call, mcp_session
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import write_stack
from tfo.config.errors import ErrorType
from tfo.config.loader import load_config
from tfo.config.payloads import RunReport
from tfo.daemon import runs
from tfo.daemon.connection import ConnectionSettings, connect


def _canary(root: Path) -> tuple[Path, Path]:
    """A `terraform` that records being executed; returns (binary, the file it writes)."""
    ran = root / "canary-ran"
    binary = root / "evil" / "terraform"
    binary.parent.mkdir(parents=True)
    binary.write_text(f"#!/bin/sh\necho \"$@\" >> {ran}\nexit 0\n")
    binary.chmod(0o755)
    return binary, ran


async def test_an_inline_config_cannot_run_its_own_terraform(tmp_path, terraform) -> None:  # type: ignore[no-untyped-def]
    tmp = tmp_path.resolve()
    binary, ran = _canary(tmp)
    root = tmp / "root"
    (root / "app").mkdir(parents=True)
    (root / "app" / "main.tf").write_text('output "x" {\n  value = 1\n}\n')
    inline = {"terraform": {"binary": str(binary)}, "workspaces": [{"name": "app", "dir": "app"}]}
    async with mcp_session(tmp, tmp / "state", "--config-root", root, log=tmp / "mcp.log") as session:
        started, _ = await call(session, "execute_workflow", config=inline, mode="plan")
        deadline = time.monotonic() + HANG_TIMEOUT
        while True:
            status, shown = await call(session, "get_workflow_status", workflow_id=started["workflow_id"])
            if status["done"]:
                break
            assert time.monotonic() < deadline, status
            await asyncio.sleep(0.2)
    app = status["workspaces"]["app"]
    assert status["status"] == "failed" and app["status"] == "failed", status
    assert "is not allowed on this worker" in app["error"] and "--allow-binary" in app["error"], app
    assert "not allowed" in shown
    assert not ran.exists(), f"the canary ran: {ran.read_text()}"


def test_a_workflow_started_by_another_user_cannot_pick_the_binary(tmp_path, terraform) -> None:  # type: ignore[no-untyped-def]
    tmp = tmp_path.resolve()
    binary, ran = _canary(tmp)
    config = write_stack(tmp / "stack", [W("net")], binary=terraform.binary, top={"task_queue": "tfo-canary"})
    state = tmp / "stack" / ".tfo"
    # The same workspaces, but naming the canary: what anyone who can reach the server can send.
    hostile = write_stack(tmp / "hostile", [W("net")], binary=str(binary), top={"task_queue": "tfo-canary"})

    async def attack(address: str) -> tuple[RunReport, RunReport]:
        client = await connect(ConnectionSettings(), address=address)
        honest = runs.build_request(load_config(config), mode="plan", workspaces=[], state_dir=state)
        evil = runs.build_request(load_config(hostile), mode="plan", workspaces=[], state_dir=state)
        results = []
        for request in (evil, honest):
            run_id = await runs.start_run(client, request)
            handle = client.get_workflow_handle(run_id, result_type=RunReport)
            results.append(await asyncio.wait_for(handle.result(), timeout=HANG_TIMEOUT))
        return results[0], results[1]

    with running_daemon(config, tmp, logs=tmp / "daemon"):
        info = json.loads((state / "server" / "server.json").read_text())
        evil, honest = asyncio.run(attack(f"127.0.0.1:{info['port']}"))
    net = evil.workspaces["net"]
    assert evil.status == "failed" and net.status == "failed", evil
    assert net.error_type == ErrorType.BINARY_NOT_ALLOWED, net
    assert str(binary) in (net.error or "") and "not allowed" in (net.error or ""), net
    assert not ran.exists(), f"the canary ran: {ran.read_text()}"
    # The binary of the daemon's own config still runs.
    assert honest.status == "succeeded", honest
