"""`policies:` (issue 20): validation with YAML lines, hostile rules, evaluation over plan
JSON items, verdict bounds, text and JSON output, and the `policy_violation` alert rule.

The CEL engine runs in process here; the evaluator's own process, with its deadline,
is exercised in tests/integration/test_policies.py.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tfo.activities.policy_eval import changed_resources, evaluate_rule
from tfo.config.drift_config import AlertEvent
from tfo.config.drift_models import DriftStatus, WorkspaceDrift
from tfo.config.payloads import RunReport, WorkspaceReport, WorkspaceStatus
from tfo.config.policy_compile import (
    KNOWN_FUNCTIONS,
    MAX_EXPRESSION_CHARS,
    MAX_NESTING,
    MAX_VERDICTS,
    PolicyCompileError,
    _engine,
    compile_expression,
)
from tfo.config.policy_models import PolicyRule, PolicyVerdict, bounded, denial_text, denials
from tfo.daemon.main import run
from tfo.daemon.plan_text import plan_text
from tfo.workflows.drift_rules import _policy_event
from tfo.workflows.run_report import LEDGER_MAX_VERDICTS, slim_for_ledger

WS = {"name": "prod-net", "dir": "/x/prod-net"}
APPLY = {"id": "tfo-apply-1", "mode": "apply", "trigger": "cli"}
PLAN = {"id": "tfo-plan-1", "mode": "plan", "trigger": "schedule"}


def change(address: str, actions: list[str], after: dict[str, Any] | None = None) -> dict[str, Any]:
    rtype, name = address.split(".", 1)
    return {
        "address": address,
        "type": rtype,
        "name": name,
        "mode": "managed",
        "change": {"actions": actions, "before": None if actions == ["create"] else {}, "after": after},
    }


SSH = change(
    "aws_security_group_rule.ssh",
    ["create"],
    {"cidr_blocks": ["10.0.0.0/8", "0.0.0.0/0"], "from_port": 22, "to_port": 22},
)
GONE = change("aws_db_instance.main", ["delete"], None)
KEPT = change("null_resource.same", ["no-op"], {"triggers": {}})

NO_SSH = {
    "name": "no-public-ssh",
    "deny": 'resource.type == "aws_security_group_rule"'
    ' && resource.change.after.cidr_blocks.exists(c, c == "0.0.0.0/0")'
    " && resource.change.after.from_port <= 22 && resource.change.after.to_port >= 22",
    "message": "SSH open to the world",
    "applies_to": ["apply"],
}
NO_DESTROY = {
    "name": "no-destroy-in-prod",
    "deny": 'resource.change.actions.exists(a, a == "delete") && workspace.name.startsWith("prod-")',
    "message": "",
    "applies_to": ["apply"],
}


# --- validation at `tfo validate` time -------------------------------------------------


def _validate(tmp_path: Path, policies: str) -> tuple[int, str, Path]:
    (tmp_path / "a").mkdir(exist_ok=True)
    (tmp_path / "a" / "main.tf").write_text("")
    path = tmp_path / "infra.yaml"
    path.write_text("workspaces:\n  - name: a\n    dir: a\npolicies:\n" + textwrap.dedent(policies))
    code = run(["validate", str(path)])
    return code, path.read_text(), path


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


@pytest.mark.parametrize(
    ("policies", "marker", "expect"),
    [
        ("  - name: broken\n    deny: resource.type ==\n", "deny:", "CEL syntax error at column"),
        ("  - name: ok\n    deny: 'true == false'\n  - name: typo\n    deny: resourc.type == 'x'\n",
         "resourc", "unknown variable 'resourc'"),
        ("  - name: fn\n    deny: frobnicate(resource)\n", "frobnicate", "unknown function 'frobnicate'"),
        ("  - name: multi\n    deny: >-\n      resource.type == 'x' &&\n      (resource.name\n", "deny:",
         "CEL syntax error"),
        ("  - name: dup\n    deny: 'false'\n  - name: dup\n    deny: 'false'\n", "second dup", "duplicate policy"),
        ("  - name: k\n    deny: 'false'\n    appliesTo: [plan]\n", "appliesTo", "did you mean 'applies_to'"),
        ("  - name: k\n    deny: 'false'\n    applies_to: [destroy]\n", "applies_to", "policies[0] (k).applies_to"),
        ("  - name: k\n    message: no rule\n", "- name: k", "deny: required key is missing"),
    ],
    ids=["syntax", "unknown-variable", "unknown-function", "folded-multiline", "duplicate", "unknown-key",
         "bad-stage", "missing-deny"],
)  # fmt: skip
def test_bad_rules_fail_validate_with_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], policies: str, marker: str, expect: str
) -> None:
    code, text, path = _validate(tmp_path, policies)
    err = capsys.readouterr().err
    assert code == 1, err
    assert len(err.splitlines()) == 1, err
    line = _line_of(text, marker) if marker != "second dup" else len(text.splitlines()) - 1
    assert err.startswith(f"tfo: error: {path}:{line}: "), (err, line)
    assert expect in err


def test_good_rules_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _validate(
        tmp_path,
        f"  - name: ssh\n    deny: {NO_SSH['deny']!r}\n    message: m\n"
        f"  - name: destroy\n    deny: {NO_DESTROY['deny']!r}\n    applies_to: [plan, apply]\n",
    )
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    "expression",
    [
        "x" * (MAX_EXPRESSION_CHARS + 1),
        "(" * (MAX_NESTING + 1) + "true" + ")" * (MAX_NESTING + 1),
        "[" * 2000 + "]" * 2000,
        '"' + "a" * 100_000 + '"',
    ],
    ids=["long", "deep", "deep-lists", "long-string"],
)
def test_hostile_expressions_are_refused_fast(expression: str) -> None:
    start = time.perf_counter()
    with pytest.raises(PolicyCompileError, match="limit is"):
        compile_expression(expression)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize(
    "expression",
    [
        "!" * (MAX_EXPRESSION_CHARS - 8) + "true",
        "1" + " + 1" * ((MAX_EXPRESSION_CHARS - 10) // 4) + " > 0",
        "(" * MAX_NESTING + "true" + ")" * MAX_NESTING,
        '"' + "(" * 1000 + '" == resource.name',  # brackets in a string do not nest
    ],
    ids=["unary-chain", "binary-chain", "at-depth-limit", "brackets-in-string"],
)
def test_large_but_legal_expressions_compile_and_run_fast(expression: str) -> None:
    start = time.perf_counter()
    program = compile_expression(expression)
    program.execute({"resource": {"name": "x"}, "workspace": WS, "run": APPLY})
    assert time.perf_counter() - start < 0.5


def test_every_known_function_exists_in_the_engine() -> None:
    cel = _engine()
    with pytest.raises(RuntimeError, match="Undefined"):
        cel.evaluate("frobnicate(1)")
    stamp = 'timestamp("2024-01-02T03:04:05Z")'
    calls = {
        "size": 'size("ab")', "contains": '"ab".contains("a")', "startsWith": '"ab".startsWith("a")',
        "endsWith": '"ab".endsWith("b")', "matches": '"ab".matches("^a")', "int": 'int("1")', "uint": "uint(1)",
        "double": "double(1)", "string": "string(1)", "bytes": 'bytes("a")', "timestamp": stamp,
        "duration": 'duration("1s")', "type": "type(1)", "dyn": "dyn(1)",
    }  # fmt: skip
    for name in sorted(KNOWN_FUNCTIONS):
        cel.evaluate(calls.get(name, f"{stamp}.{name}()"))


# --- evaluation over plan JSON items -----------------------------------------------------


def test_rules_judge_each_changed_resource() -> None:
    changes = changed_resources({"resource_changes": [SSH, GONE, KEPT]})
    assert [c["address"] for c in changes] == [SSH["address"], GONE["address"]]  # no-ops are not judged

    ssh = evaluate_rule(NO_SSH, changes, workspace=WS, run=APPLY)
    assert ssh == [
        {"rule": "no-public-ssh", "message": "SSH open to the world", "address": SSH["address"], "effect": "deny",
         "error": None}
    ]  # fmt: skip
    destroy = evaluate_rule(NO_DESTROY, changes, workspace=WS, run=PLAN)
    assert [(v["address"], v["effect"]) for v in destroy] == [(GONE["address"], "warn")]  # plan runs only warn
    other = evaluate_rule(NO_DESTROY, changes, workspace={"name": "dev-net", "dir": "/x"}, run=APPLY)
    assert other == []
    advisory = evaluate_rule({**NO_DESTROY, "applies_to": ["plan"]}, changes, workspace=WS, run=APPLY)
    assert [v["effect"] for v in advisory] == ["warn"]
    by_run = evaluate_rule({"name": "r", "deny": 'run.trigger == "schedule"'}, changes, workspace=WS, run=PLAN)
    assert len(by_run) == 2


def test_a_rule_that_errors_or_is_not_boolean_is_a_violation_never_a_pass() -> None:
    missing = evaluate_rule({"name": "m", "deny": "resource.change.after.nope == 1"}, [SSH], workspace=WS, run=APPLY)
    assert missing[0]["effect"] == "deny" and "nope" in missing[0]["error"]
    typed = evaluate_rule({"name": "t", "deny": "resource.type"}, [SSH], workspace=WS, run=APPLY)
    assert "not a boolean" in typed[0]["error"]
    broken = evaluate_rule({"name": "b", "deny": "resource.type =="}, [SSH], workspace=WS, run=APPLY)
    assert broken[0]["address"] == "" and "syntax error" in broken[0]["error"]


def test_evaluation_speed_per_thousand_changes() -> None:
    changes = [change(f"null_resource.r{i}", ["create"], {"triggers": {"i": str(i)}}) for i in range(1000)]
    start = time.perf_counter()
    for rule in (NO_SSH, NO_DESTROY):
        assert evaluate_rule(rule, changes, workspace={"name": "dev", "dir": "/x"}, run=APPLY) == []
    elapsed = time.perf_counter() - start
    print(f"2 rules x 1000 resource changes: {elapsed * 1000:.0f} ms")
    assert elapsed < 5


# --- verdicts: bounds, texts, payloads ----------------------------------------------------


def verdict(rule: str, i: int, effect: str = "deny", **extra: Any) -> PolicyVerdict:
    return PolicyVerdict(rule=rule, message=f"{rule} says no", address=f"null_resource.r{i}", effect=effect, **extra)


def test_verdicts_are_bounded_with_every_rule_and_denials_first() -> None:
    many = [verdict("warned", i, "warn") for i in range(100)] + [verdict("denied", i) for i in range(100)]
    many.append(PolicyVerdict(rule="long", message="m" * 5000, address="a" * 5000, effect="warn", error="e" * 5000))
    kept = bounded(many)
    assert len(kept) == MAX_VERDICTS
    assert kept[0].rule == "denied" and {v.rule for v in kept} == {"warned", "denied", "long"}
    assert all(len(v.message) <= 300 and len(v.error or "") <= 300 for v in kept)
    assert len(denials(kept)) >= 1
    text = denial_text(denials(kept))
    assert text.startswith("denied by policy denied: denied says no (null_resource.r0)") and "more)" in text


def test_json_text_and_ledger_carry_the_verdicts() -> None:
    ws = WorkspaceReport(
        status=WorkspaceStatus.FAILED,
        error="denied by policy ...",
        policy=[verdict("no-ssh", 1), verdict("tags", 2, "warn", error="no such key 'tags'")] * 10,
    )
    report = RunReport(run_id="tfo-apply-1", mode="apply", workspaces={"net": ws, "other": WorkspaceReport()})
    public = report.public_json()["workspaces"]
    assert public["net"]["policy"][0] == {
        "rule": "no-ssh", "message": "no-ssh says no", "address": "null_resource.r1", "effect": "deny", "error": None,
    }  # fmt: skip
    assert public["other"]["policy"] == []
    text = plan_text(report)
    assert "    deny: policy no-ssh: no-ssh says no (null_resource.r1)" in text
    assert "    warn: policy tags: tags says no; the rule could not be evaluated: no such key 'tags'" in text
    slim = slim_for_ledger(report)
    assert len(slim.workspaces["net"].policy) == LEDGER_MAX_VERDICTS
    # Payloads omit defaults: a workspace without verdicts costs nothing more.
    assert "policy" not in WorkspaceReport().model_dump_json()


def test_rule_models_forbid_unknown_keys_and_default_to_apply() -> None:
    rule = PolicyRule.model_validate({"name": "r", "deny": "false"})
    assert rule.applies_to == ["apply"] and rule.effect("apply") == "deny" and rule.effect("plan") == "warn"
    with pytest.raises(ValueError, match="extra"):
        PolicyRule.model_validate({"name": "r", "deny": "false", "severity": "high"})


# --- the scheduled check's alert ------------------------------------------------------------


def drift_result(status: DriftStatus, *verdicts: PolicyVerdict) -> WorkspaceDrift:
    return WorkspaceDrift(status=status, policy=list(verdicts), checked_at="2024-01-01T00:00:00+00:00", run_id="r")


def test_policy_violation_alerts_once_per_new_violation() -> None:
    clean = drift_result(DriftStatus.CLEAN)
    first = drift_result(DriftStatus.CLEAN, verdict("tags", 1, "warn"))
    assert _policy_event(None, first) == AlertEvent.POLICY_VIOLATION
    assert _policy_event(clean, first) == AlertEvent.POLICY_VIOLATION
    assert _policy_event(first, drift_result(DriftStatus.CLEAN, verdict("tags", 1, "warn"))) is None
    # An errored check says nothing about policy: it keeps what was known.
    errored = drift_result(DriftStatus.ERRORED)
    assert _policy_event(first, errored) is None and errored.policy == first.policy
    assert _policy_event(errored, drift_result(DriftStatus.CLEAN, verdict("tags", 1, "warn"))) is None
    more = drift_result(DriftStatus.DRIFTED, verdict("tags", 1, "warn"), verdict("tags", 2, "warn"))
    assert _policy_event(first, more) == AlertEvent.POLICY_VIOLATION
    assert _policy_event(more, first) is None  # fewer violations: nothing new to say
