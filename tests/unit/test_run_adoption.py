"""Only the very same request resumes a run: each difference is named (issue 15, item 1).

`differences` compares a run's memo, as `runs.start_run` records it, with the request
of the command now running. The end-to-end cases (an edit, a live follower, an
agent's run, --auto-approve) run real tfo processes in tests/reliability/test_run_adoption.py;
these cover every field of the identity, each on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tfo.config.loader import load_config
from tfo.config.payloads import RunRequest
from tfo.daemon.run_adoption import differences, run_memo
from tfo.daemon.runs import build_request

INFRA = """
name: stack
workspaces:
  - name: net
    dir: net
  - name: app
    dir: app
    dependsOn: [net]
"""


def _config(root: Path, text: str = INFRA) -> Path:
    for name in ("net", "app"):
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "main.tf").write_text('output "id" { value = "x" }\n')
    path = root / "infra.yaml"
    path.write_text(text)
    return path


def _request(config: Path, **options: Any) -> RunRequest:
    options.setdefault("mode", "apply")
    options.setdefault("workspaces", [])
    return build_request(load_config(config), state_dir=config.parent / ".tfo", **options)


def test_the_same_request_has_no_difference(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert differences(run_memo(_request(config)), _request(config)) == []
    assert differences(run_memo(_request(config, workspaces=["app"])), _request(config, workspaces=["app"])) == []


@pytest.mark.parametrize(
    ("recorded", "now", "reason"),
    [
        ({"workspaces": ["net"]}, {}, "it selected other workspaces"),
        ({"workspaces": ["app"]}, {"workspaces": ["net"]}, "it selected other workspaces"),
        ({"parallelism": 2}, {"parallelism": 8}, "it was started with --parallelism 2"),
        ({"no_wait": True}, {}, "it was started with --no-wait"),
        ({}, {"no_wait": True}, "it was started without --no-wait"),
        ({"auto_approve": True}, {}, "it was started with --auto-approve"),
        ({}, {"auto_approve": True}, "--auto-approve never takes over such a run"),
        ({"mode": "plan"}, {}, "it is a plan"),
        ({}, {"mode": "plan"}, "it is an apply"),
    ],
)
def test_each_option_is_part_of_the_request(
    tmp_path: Path, recorded: dict[str, Any], now: dict[str, Any], reason: str
) -> None:
    config = _config(tmp_path)
    found = differences(run_memo(_request(config, **recorded)), _request(config, **now))
    assert len(found) == 1 and reason in found[0], found


def test_another_file_with_the_same_content_is_another_config(tmp_path: Path) -> None:
    first = _config(tmp_path / "a")
    second = _config(tmp_path / "b")
    found = differences(run_memo(_request(first)), _request(second))
    assert found == [f"it belongs to another config file ({first.resolve()})"], found


def test_an_edit_of_the_file_is_another_request(tmp_path: Path) -> None:
    config = _config(tmp_path)
    memo = run_memo(_request(config))
    config.write_text(INFRA + "    vars: {replicas: 3}\n")
    assert differences(memo, _request(config)) == ["infra.yaml changed since it started"]


@pytest.mark.parametrize(("trigger", "who"), [("mcp", "an agent (MCP)"), ("schedule", "a drift schedule")])
def test_runs_not_started_by_the_cli_are_never_adopted(tmp_path: Path, trigger: str, who: str) -> None:
    config = _config(tmp_path)
    # Everything else equal: the same file, selection and options.
    assert differences(run_memo(_request(config, trigger=trigger)), _request(config)) == [
        f"{who} started it, not the CLI"
    ]


def test_an_inline_config_of_an_agent_is_never_adopted(tmp_path: Path) -> None:
    """An agent's inline config (no file of its own) under the same path still is not the CLI's."""
    config = _config(tmp_path)
    inline = _request(config, trigger="mcp")
    inline.config.path = str(tmp_path / "<inline>")
    assert differences(run_memo(inline), _request(config)) == ["an agent (MCP) started it, not the CLI"]


def test_a_run_of_an_older_tfo_is_not_adopted(tmp_path: Path) -> None:
    config = _config(tmp_path)
    memo = {k: v for k, v in run_memo(_request(config)).items() if k != "request"}
    assert differences(memo, _request(config)) == [
        "it was started by an earlier version of tfo, which did not record its request"
    ]
