"""`tfo mcp` as a subprocess, driven by a real MCP client session over stdio.

Every test starts its own server in embedded mode with a state dir in tmp, and
checks after the session closed that neither `tfo mcp` nor its dev server is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import CallToolResult

from tests.integration.cli_helpers import TFO, Tfo, assert_nothing_running, cli_env, kill_dev_servers
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import state_resources, write_stack

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOOLS = {
    "list_workflows", "execute_workflow", "get_workflow_status", "get_drift_report", "list_runs", "cancel_run",
    "get_plan_diff",
}  # fmt: skip
READ_ONLY = {"list_workflows", "get_workflow_status", "get_drift_report", "list_runs", "get_plan_diff"}
RUN_KEYS = ("mode", "status", "changes", "workspaces")  # `tfo plan --json` minus the run id
POLL_TIMEOUT = 180.0


def mcp_processes(marker: Path) -> list[int]:
    """PIDs of live `tfo mcp` processes whose command line mentions `marker`."""
    needle = str(marker).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"mcp" in argv and needle in argv and not any(b"start-dev" in a for a in argv):
            found.append(int(entry.name))
    return found


@contextlib.asynccontextmanager
async def mcp_session(tmp: Path, *args: str | Path) -> AsyncIterator[ClientSession]:
    """`tfo mcp --state-dir TMP/state ARGS` over stdio; afterwards nothing may be left running."""
    state = tmp / "state"
    params = StdioServerParameters(
        command=TFO,
        args=["mcp", "--state-dir", str(state), *(str(a) for a in args)],
        env=cli_env(tmp),
        cwd=tmp,
    )
    log = tmp / "mcp-stderr.log"
    closed_at = 0.0
    garbage: list[Exception] = []  # anything on stdout that is not an MCP message

    async def on_message(message: Any) -> None:
        if isinstance(message, Exception):
            garbage.append(message)

    try:
        with log.open("w") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write, read_timeout_seconds=120, message_handler=on_message) as session,
            ):
                await session.initialize()
                yield session
                closed_at = time.monotonic()
    finally:
        leftovers = mcp_processes(state)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        servers = kill_dev_servers(state)
    stderr = log.read_text()
    assert garbage == [], f"stdout carried more than MCP: {garbage}"
    assert leftovers == [], f"tfo mcp still running: {leftovers}\n{stderr}"
    assert servers == [], f"dev server still running: {servers}\n{stderr}"
    assert_nothing_running(state)
    # The server stopped on its own when stdin closed, before the client's SIGTERM.
    assert "tfo mcp: stopping" in stderr, stderr
    assert closed_at > 0
    assert "Traceback" not in stderr, stderr


def text(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    assert text(result).strip()  # readable text too
    return result.structured_content


async def refused(session: ClientSession, tool: str, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    message = text(result)
    assert result.is_error, f"{tool}({arguments}) was not refused: {message}"
    assert message.startswith(f"Error executing tool {tool}: "), message
    assert "\n" not in message and "Traceback" not in message, message
    return message


async def wait_status(
    session: ClientSession, run_id: str, until: Callable[[dict[str, Any]], bool] = lambda s: s["done"]
) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_TIMEOUT
    while True:
        status = await call(session, "get_workflow_status", workflow_id=run_id)
        if until(status):
            return status
        assert not status["done"], f"run ended before the awaited state: {status}"
        assert time.monotonic() < deadline, f"run {run_id} never got there: {status}"
        await asyncio.sleep(0.2)


@pytest.fixture
def tmp(tmp_path: Path, terraform) -> Path:  # type: ignore[no-untyped-def]
    return tmp_path.resolve()


def two_tier(root: Path, binary: str) -> Path:
    return write_stack(
        root,
        [
            W("net", outputs={"vpc_id": '"vpc-1"', "token": '"s3cr3t-value"'}, sensitive_outputs=["token"]),
            # No inputs: a plan of a dependent whose upstream was never applied fails by design.
            W("app", depends_on=["net"], outputs={"name": '"app-1"'}),
        ],
        binary=binary,
    )


# -- the tools ------------------------------------------------------------------


async def test_tool_listing_and_list_workflows_on_examples(tmp: Path) -> None:
    async with mcp_session(tmp, "--config-root", EXAMPLES) as session:
        listing = (await session.list_tools()).tools
        tools = {tool.name: tool for tool in listing}
        assert set(tools) == TOOLS
        for name, tool in tools.items():
            assert tool.annotations is not None, name
            assert tool.description, name
            assert tool.output_schema is not None, name
            if name in READ_ONLY:
                assert tool.annotations.read_only_hint is True, name
                assert tool.annotations.destructive_hint is False, name
        execute = tools["execute_workflow"]
        assert execute.annotations is not None
        assert execute.annotations.destructive_hint is True
        assert execute.annotations.read_only_hint is False
        assert not any("approve" in name for name in tools)  # only a human approves

        schema = execute.input_schema
        assert set(schema["properties"]) == {"config_path", "config", "mode", "workspaces"}
        assert schema.get("required", []) == []
        mode = schema["properties"]["mode"]
        assert mode["default"] == "plan" and mode["enum"] == ["plan", "apply"]
        assert tools["list_workflows"].input_schema["required"] == ["config_path"]
        assert tools["get_drift_report"].input_schema["required"] == ["config_path"]
        assert tools["get_workflow_status"].input_schema["required"] == ["workflow_id"]
        assert tools["cancel_run"].input_schema["required"] == ["workflow_id"]

        result = await call(session, "list_workflows", config_path="multi-region/infra.yaml")
        assert result["config"] == "multi-region"
        assert result["config_path"] == "multi-region/infra.yaml"
        workspaces = {ws["name"]: ws for ws in result["workspaces"]}
        assert [ws["name"] for ws in result["workspaces"]][:2] == ["vpc-east", "vpc-west"]  # dependency order
        assert set(workspaces) == {"vpc-east", "vpc-west", "subnets-east", "subnets-west", "database", "app", "dns"}
        assert workspaces["database"]["dependsOn"] == ["subnets-east", "subnets-west"]
        assert workspaces["dns"]["dependsOn"] == ["app", "database"]
        assert workspaces["vpc-east"]["dependsOn"] == [] and workspaces["vpc-east"]["depth"] == 0
        assert {"sourceWorkspace": "vpc-east", "sourceOutput": "vpc_id", "targetVar": "east_vpc_id"} in workspaces[
            "app"
        ]["inputs"]
        assert result["schedules"] == []
        # The same config, named as its directory and as an absolute path.
        assert (await call(session, "list_workflows", config_path="multi-region"))["workspaces"] == result["workspaces"]
        absolute = str(EXAMPLES / "multi-region" / "infra.yaml")
        assert (await call(session, "list_workflows", config_path=absolute))["config"] == "multi-region"

        drift = await call(session, "get_drift_report", config_path="multi-region/infra.yaml")
        assert drift == {
            "config": "multi-region",
            "workspaces": {},
            "alerts_pending": 0,
            "alerts_sent": 0,
            "lost_note": None,
        }


async def test_plan_run_matches_tfo_plan_json(tmp: Path, terraform) -> None:  # type: ignore[no-untyped-def]
    config = two_tier(tmp / "root" / "stack", terraform.binary)
    cli = Tfo(tmp, cwd=tmp)
    applied = cli.run("apply", config, "--auto-approve", idle=config.parent / ".tfo")
    assert applied.code == 0, applied
    # Change app's trigger: its resource is replaced; net has no changes but known outputs.
    main_tf = config.parent / "app" / "main.tf"
    main_tf.write_text(main_tf.read_text().replace('trigger = "v1"', 'trigger = "v2"'))

    async with mcp_session(tmp, "--config-root", tmp / "root") as session:
        started = await call(session, "execute_workflow", config_path="stack/infra.yaml")
        assert set(started) >= {"workflow_id", "mode", "status"}
        assert (started["mode"], started["status"]) == ("plan", "started")
        run_id = started["workflow_id"]
        assert run_id.startswith("tfo-plan-stack-")
        assert started["workspaces"] == ["net", "app"]

        status = await wait_status(session, run_id)
        result = await session.call_tool("get_workflow_status", {"workflow_id": run_id})
        assert f"plan run {run_id}: succeeded" in text(result)
        assert "s3cr3t-value" not in text(result)

    assert (status["run_id"], status["status"], status["changes"], status["done"]) == (run_id, "succeeded", True, True)
    net, app = status["workspaces"]["net"], status["workspaces"]["app"]
    assert net["outputs"] == {"vpc_id": "vpc-1", "token": "(sensitive)"}
    assert net["changes"] == {"create": 0, "update": 0, "delete": 0, "replace": 0}
    assert app["changes"] == {"create": 0, "update": 0, "delete": 0, "replace": 1}
    assert "s3cr3t-value" not in json.dumps(status)

    planned = cli.run("plan", config, "--json", idle=config.parent / ".tfo")
    assert planned.code == 2, planned
    expected = planned.json()
    assert {k: status[k] for k in RUN_KEYS} == {k: expected[k] for k in RUN_KEYS}
    assert state_resources(config.parent / "app") == ["null_resource.app"]


async def test_apply_is_refused_without_allow_apply(tmp: Path, terraform) -> None:  # type: ignore[no-untyped-def]
    two_tier(tmp / "root" / "stack", terraform.binary)
    async with mcp_session(tmp, "--config-root", tmp / "root") as session:
        message = await refused(session, "execute_workflow", config_path="stack/infra.yaml", mode="apply")
        assert "apply is disabled" in message and "--allow-apply" in message
        # Arguments the schema rejects get one line too, not pydantic's report.
        message = await refused(session, "execute_workflow", config_path="stack/infra.yaml", mode="destroy")
        assert "mode: Input should be 'plan' or 'apply'" in message
        assert (await call(session, "list_runs"))["runs"] == []
    assert state_resources(tmp / "root" / "stack" / "net") == []


async def test_apply_waits_for_a_human_tfo_approve(tmp: Path, terraform) -> None:  # type: ignore[no-untyped-def]
    config = write_stack(tmp / "root" / "stack", [W("solo")], binary=terraform.binary)
    ws_dir = config.parent / "solo"
    async with mcp_session(tmp, "--config-root", tmp / "root", "--allow-apply") as session:
        started = await call(session, "execute_workflow", config_path="stack", mode="apply")
        run_id = started["workflow_id"]
        assert (started["mode"], started["status"]) == ("apply", "started")
        assert run_id.startswith("tfo-apply-")
        assert f"tfo approve {run_id}" in started["next_step"]

        waiting = await wait_status(session, run_id, lambda s: s["status"] == "awaiting_approval")
        assert waiting["done"] is False
        assert f"tfo approve {run_id}" in waiting["next_step"]
        assert waiting["workspaces"]["solo"]["changes"]["create"] == 1
        # The readable diff of the waiting run: the resource and its attributes.
        plan_text = waiting["plan_text"]
        assert plan_text and f"Plan for run {run_id}:" in plan_text
        assert "  + null_resource.solo" in plan_text.splitlines(), plan_text
        assert '      + triggers.trigger: "v1"' in plan_text.splitlines(), plan_text
        await asyncio.sleep(1.0)
        still = await call(session, "get_workflow_status", workflow_id=run_id)
        assert still["status"] == "awaiting_approval"
        assert state_resources(ws_dir) == []  # nothing applied without a human

        # A human approves from another process; it finds the server through the run index.
        approved = await asyncio.to_thread(Tfo(tmp, cwd=tmp).run, "approve", run_id)
        assert approved.code == 0, approved
        assert "approved" in approved.stdout, approved

        final = await wait_status(session, run_id)
        assert (final["status"], final["done"]) == ("succeeded", True)
        assert final["workspaces"]["solo"]["status"] == "succeeded"
        runs = (await call(session, "list_runs"))["runs"]
        assert [r["run_id"] for r in runs] == [run_id]
    assert state_resources(ws_dir) == ["null_resource.solo"]


async def test_runs_started_at_once_get_distinct_ids_and_all_complete(tmp: Path, terraform) -> None:  # type: ignore[no-untyped-def]
    two_tier(tmp / "root" / "stack", terraform.binary)  # the two runs of it contend for its workspaces
    write_stack(tmp / "root" / "other", [W("solo")], binary=terraform.binary)
    inline = {
        "name": "adhoc",
        "terraform": {"binary": terraform.binary},
        "workspaces": [{"name": "solo", "dir": "other/solo"}],
    }
    async with mcp_session(tmp, "--config-root", tmp / "root") as session:
        started = await asyncio.gather(
            call(session, "execute_workflow", config_path="stack/infra.yaml"),
            call(session, "execute_workflow", config_path="stack/infra.yaml"),
            call(session, "execute_workflow", config=inline),
        )
        ids = [s["workflow_id"] for s in started]
        assert len(set(ids)) == 3, ids
        assert ids[2].startswith("tfo-plan-inline-adhoc-")
        done = await asyncio.gather(*(wait_status(session, run_id) for run_id in ids))
    assert [d["status"] for d in done] == ["succeeded"] * 3, done
    assert [set(d["workspaces"]) for d in done] == [{"net", "app"}, {"net", "app"}, {"solo"}]
    assert done[0]["workspaces"] == done[1]["workspaces"]
    assert done[2]["config"] == "inline-adhoc"
    assert done[2]["workspaces"]["solo"]["changes"]["create"] == 1


# -- escapes --------------------------------------------------------------------

OUTSIDE_SECRETS = ("outside-secret-ws", "outside-secret-value", "evil-secret-ws")


def _escape_layout(tmp: Path, binary: str) -> tuple[Path, Path]:
    """A root with one valid stack, and valid configs outside it that must stay unreachable."""
    root, outside = tmp / "infra", tmp / "outside"
    write_stack(root / "stack", [W("inside")], binary=binary)
    write_stack(outside, [W("outside-secret-ws", outputs={"v": '"outside-secret-value"'})], binary=binary)
    write_stack(tmp / "infra-evil", [W("evil-secret-ws")], binary=binary)
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "linkfile.yaml").symlink_to(outside / "infra.yaml")
    (root / "wslink").symlink_to(outside / "outside-secret-ws", target_is_directory=True)
    return root, outside


async def test_escape_attempts_are_refused_without_leaking(tmp: Path, terraform) -> None:  # type: ignore[no-untyped-def]
    root, outside = _escape_layout(tmp, terraform.binary)
    paths = [
        "../outside/infra.yaml",
        "stack/../../outside/infra.yaml",
        str(outside / "infra.yaml"),
        f"{root}/../outside/infra.yaml",
        "link/infra.yaml",
        "linkfile.yaml",
        str(tmp / "infra-evil" / "infra.yaml"),
        "../infra-evil/infra.yaml",
        "stack/infra.yaml\0",
    ]
    inline_workspaces = [
        {"name": "x", "dir": "../outside/outside-secret-ws"},
        {"name": "x", "dir": str(outside / "outside-secret-ws")},
        {"name": "x", "dir": "wslink"},
        {"name": "x", "dir": "../infra-evil/evil-secret-ws"},
        {"name": "x", "dir": "stack/inside", "binary": "/bin/sh"},
    ]
    seen: list[tuple[str, str]] = []  # (what the caller sent, what it got back)

    async def refuse(tool: str, **arguments: Any) -> str:
        message = await refused(session, tool, **arguments)
        seen.append((json.dumps(arguments), message))
        return message

    async with mcp_session(tmp, "--config-root", root) as session:
        # A run of the outside config on the same (embedded) server, started by a human.
        human = await asyncio.to_thread(
            Tfo(tmp, cwd=tmp).run, "plan", outside / "infra.yaml", "--json", "--state-dir", tmp / "state"
        )
        assert human.code == 2, human
        outside_run = human.json()["run_id"]

        for path in paths:
            for tool in ("list_workflows", "get_drift_report", "execute_workflow"):
                message = await refuse(tool, config_path=path)
                expected = "contains a NUL byte" if "\0" in path else "is outside the config roots"
                assert expected in message, message
        for ws in inline_workspaces:
            inline = {"terraform": {"binary": terraform.binary}, "workspaces": [ws]}
            message = await refuse("execute_workflow", config=inline)
            assert "is outside the config roots" in message or "may only run terraform or tofu" in message, message
        for tool in ("get_workflow_status", "cancel_run", "get_plan_diff"):
            for run_id in (outside_run, "tfo-plan-../../etc", "not-a-run", "tfo-plan-x\0"):
                message = await refuse(tool, workflow_id=run_id)
                assert "no tfo run" in message or "NUL byte" in message, message
        # Naming one of the outside run's workspaces does not get past the check either.
        message = await refuse("get_plan_diff", workflow_id=outside_run, workspace="outside-secret-ws")
        assert f"no tfo run '{outside_run}' found" in message, message
        message = await refuse("execute_workflow", config_path="stack", workspaces=["outside-secret-ws"])
        assert "is not a workspace of stack" in message
        assert "config_path is required" in await refuse("execute_workflow")
        assert "not both" in await refuse("execute_workflow", config_path="stack", config={"workspaces": []})

        runs = (await call(session, "list_runs"))["runs"]
        assert outside_run not in [r["run_id"] for r in runs]

    # A refusal names nothing of the outside beyond what the caller sent itself: no
    # workspace, output or symlink target.
    for sent, message in seen:
        for secret in (*OUTSIDE_SECRETS, str(outside)):
            if secret not in sent:
                assert secret not in message, (sent, message)
    assert state_resources(outside / "outside-secret-ws") == []


async def test_plan_diff_tool_returns_the_bounded_masked_diff(tmp: Path, terraform) -> None:  # type: ignore[no-untyped-def]
    two_tier(tmp / "root" / "stack", terraform.binary)
    async with mcp_session(tmp, "--config-root", tmp / "root") as session:
        started = await call(session, "execute_workflow", config_path="stack/infra.yaml")
        run_id = started["workflow_id"]
        await wait_status(session, run_id)
        diff = await call(session, "get_plan_diff", workflow_id=run_id, workspace="net")
        assert list(diff["workspaces"]) == ["net"]
        (net,) = diff["workspaces"]["net"]["resources"]
        assert (net["address"], net["action"]) == ("null_resource.net", "create"), net
        assert {"path": "triggers.trigger", "before": None, "after": "v1"} in net["attributes"], net
        result = await session.call_tool("get_plan_diff", {"workflow_id": run_id})
        assert "+ null_resource.net" in text(result) and "+ null_resource.app" in text(result)
        whole = result.structured_content or {}
        assert list(whole["workspaces"]) == ["app", "net"]  # name order
        assert (whole["omitted"], whole["omitted_count"]) == ([], 0)  # a small run fits whole
        assert "s3cr3t-value" not in json.dumps(result.structured_content) + text(result)
        message = await refused(session, "get_plan_diff", workflow_id=run_id, workspace="nope")
        assert "no workspace" in message


async def test_list_runs_shows_tfo_status_not_temporal_status(tmp: Path, terraform) -> None:  # type: ignore[no-untyped-def]
    """A failed plan *completes* as a workflow; list_runs says failed, like `tfo runs` (issue 15)."""
    write_stack(tmp / "root" / "good", [W("solo")], binary=terraform.binary)
    write_stack(tmp / "root" / "bad", [W("broken", broken=True)], binary=terraform.binary)
    async with mcp_session(tmp, "--config-root", tmp / "root", "--allow-apply") as session:
        failed = (await call(session, "execute_workflow", config_path="bad"))["workflow_id"]
        assert (await wait_status(session, failed))["status"] == "failed"
        gated = (await call(session, "execute_workflow", config_path="good", mode="apply"))["workflow_id"]
        await wait_status(session, gated, lambda s: s["status"] == "awaiting_approval")

        listed = await session.call_tool("list_runs", {})
        statuses = {r["run_id"]: r["status"] for r in (listed.structured_content or {})["runs"]}
        assert statuses == {failed: "failed", gated: "awaiting_approval"}, statuses
        assert "completed" not in text(listed), text(listed)

        rejected = await asyncio.to_thread(Tfo(tmp, cwd=tmp).run, "reject", gated)
        assert rejected.code == 0, rejected
        await wait_status(session, gated)
        statuses = {r["run_id"]: r["status"] for r in (await call(session, "list_runs"))["runs"]}
        assert statuses == {failed: "failed", gated: "rejected"}, statuses
