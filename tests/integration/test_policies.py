"""`policies:` on real components: the `tfo` CLI in embedded mode (dev server, worker,
terraform 1.0.3) and the evaluator's own process with its deadline.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

from tests.integration.cli_helpers import Tfo
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import state_resources, write_stack
from tfo.activities.policy_check import evaluate
from tfo.config.policy_models import PolicyRule

PUBLIC = {
    "name": "no-public-trigger",
    "deny": 'resource.change.after != null && resource.change.after.triggers.trigger == "public"',
    "message": "public resources need a security review",
}
ADVISORY = {
    "name": "tag-everything",
    "deny": 'resource.type == "null_resource" && workspace.name == "other"',
    "message": "other has no tags",
    "applies_to": ["plan"],
}


def test_deny_rule_blocks_that_apply_and_spares_the_independent_branch(tfo: Tfo, terraform, tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path.resolve() / "stack"
    config = write_stack(
        root,
        [
            W("net", trigger="public", outputs={"id": '"net-1"'}),
            W("app", depends_on=["net"], inputs=[("net", "id", "net_id")], variables={"net_id": "string"}),
            W("other"),
        ],
        binary=terraform.binary,
        top={"policies": [PUBLIC, ADVISORY]},
    )
    state = root / ".tfo"

    planned = tfo.run("plan", config, "--json", idle=state)
    assert planned.code == 2, planned  # a plan only warns
    doc = planned.json()
    net = doc["workspaces"]["net"]
    assert net["status"] == "succeeded"
    assert net["policy"] == [
        {"rule": "no-public-trigger", "message": "public resources need a security review",
         "address": "null_resource.net", "effect": "warn", "error": None}
    ]  # fmt: skip
    assert [v["effect"] for v in doc["workspaces"]["other"]["policy"]] == ["warn"]

    applied = tfo.run("apply", config, "--auto-approve", "--json", idle=state)
    assert applied.code == 1, applied
    doc = applied.json()
    assert doc["status"] == "failed"
    net = doc["workspaces"]["net"]
    assert net["status"] == "failed"
    assert "no-public-trigger" in net["error"] and "public resources need a security review" in net["error"]
    assert "null_resource.net" in net["error"]
    assert net["policy"][0]["effect"] == "deny"
    assert "public resources need a security review" in applied.stderr
    assert doc["workspaces"]["app"]["status"] == "skipped"
    # An advisory rule (applies_to: [plan]) only warns, even in an apply run.
    other = doc["workspaces"]["other"]
    assert other["status"] == "succeeded" and [v["effect"] for v in other["policy"]] == ["warn"]
    assert state_resources(root / "net") == []
    assert state_resources(root / "app") == []
    assert state_resources(root / "other") == ["null_resource.other"]

    shown = tfo.run("show", doc["run_id"], "--state-dir", state, idle=state)
    assert shown.code == 0, shown
    assert "deny: policy no-public-trigger: public resources need a security review (null_resource.net)" in (
        shown.stdout
    ), shown


def test_broken_cel_fails_validate_with_its_line(tfo: Tfo, terraform, tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path.resolve() / "stack"
    config = write_stack(root, [W("solo")], binary=terraform.binary, top={"policies": [
        {"name": "fine", "deny": "false"},
        {"name": "broken", "deny": 'resource.type == "null_resource" && (resource.name'},
    ]})  # fmt: skip
    line = next(i for i, text in enumerate(config.read_text().splitlines(), 1) if "resource.name" in text)

    result = tfo.run("validate", config)

    assert result.code == 1, result
    assert result.stderr.strip().splitlines() == [
        f"tfo: error: {config}:{line}: policies[1] (broken).deny: CEL syntax error at column 51 of the "
        "expression: missing ')' at '<EOF>'"
    ], result


def test_a_rule_that_never_ends_is_stopped_at_the_deadline_and_denies():
    changes = [
        {"address": f"null_resource.r{i}", "type": "null_resource", "name": f"r{i}",
         "change": {"actions": ["create"], "after": {}}}
        for i in range(200)
    ]  # fmt: skip
    ones = "[" + ",".join(["1"] * 300) + "]"
    endless = "resource.change.actions.all(a, " + "".join(f"{ones}.all(x{i}, " for i in range(4)) + "true" + ")" * 5
    rules = [
        PolicyRule(name="quick", deny='resource.name == "r7"', message="no r7"),
        PolicyRule(name="endless", deny=endless),
        PolicyRule(name="after", deny="true"),
    ]
    request = {
        "rules": [r.model_dump() for r in rules],
        "changes": changes,
        "workspace": {"name": "w", "dir": "/x"},
        "run": {"id": "r", "mode": "apply", "trigger": "cli"},
    }
    start = time.monotonic()
    verdicts = asyncio.run(evaluate(rules, request, mode="apply", timeout=timedelta(seconds=2)))
    elapsed = time.monotonic() - start
    print(f"an endless rule was stopped after {elapsed:.2f}s")
    assert elapsed < 5
    by_rule = {v.rule: v for v in verdicts}
    assert by_rule["quick"].address == "null_resource.r7" and by_rule["quick"].error is None
    assert by_rule["endless"].effect == "deny" and "did not finish within 2s" in (by_rule["endless"].error or "")
    assert "not evaluated" in (by_rule["after"].error or "")


async def test_deny_rule_blocks_an_mcp_apply_before_the_gate(tmp_path: Path, terraform) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.test_mcp import call, mcp_session, wait_status

    tmp = tmp_path.resolve()
    config = write_stack(
        tmp / "root" / "stack",
        [W("net", trigger="public"), W("app", depends_on=["net"]), W("other")],
        binary=terraform.binary,
        top={"policies": [PUBLIC]},
    )
    root = config.parent
    async with mcp_session(tmp, "--config-root", tmp / "root", "--allow-apply") as session:
        started = await call(session, "execute_workflow", config_path="stack", mode="apply")
        run_id = started["workflow_id"]
        waiting = await wait_status(session, run_id, lambda s: s["status"] == "awaiting_approval")
        net = waiting["workspaces"]["net"]
        assert net["status"] == "failed" and "public resources need a security review" in net["error"]
        assert net["policy"][0]["rule"] == "no-public-trigger" and net["policy"][0]["effect"] == "deny"
        assert waiting["workspaces"]["app"]["status"] == "skipped"
        assert "deny: policy no-public-trigger" in (waiting["plan_text"] or "")

        approved = await asyncio.to_thread(Tfo(tmp, cwd=tmp).run, "approve", run_id)
        assert approved.code == 0, approved
        final = await wait_status(session, run_id)
        assert final["status"] == "failed"
        assert final["workspaces"]["other"]["status"] == "succeeded"
    assert state_resources(root / "net") == []
    assert state_resources(root / "other") == ["null_resource.other"]
