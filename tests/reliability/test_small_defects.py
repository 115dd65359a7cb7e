"""Smaller defects of issue 15 (item 11), each through the real `tfo` console script."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.integration.cli_helpers import Result, Tfo
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import write_stack


def one_error_line(result: Result) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("tfo: error: ")]
    assert len(errors) == 1, result
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr, result
    return errors[0]


def test_a_busy_metrics_port_is_one_line_and_exit_1(tfo: Tfo, terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve()
    config = write_stack(root / "stack", [W("one")], binary=terraform.binary)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ("daemon", config, "--metrics-port", str(port), "--metrics-host", "127.0.0.1")
        result = tfo.run(*argv, idle=root / "stack" / ".tfo")
    assert result.code == 1, result
    line = one_error_line(result)
    assert f"--metrics-port {port}" in line and "in use" in line, line
    assert not (root / "logs").exists() or not list((root / "logs").rglob("crash-*")), "a crash log was written"


def test_validate_rejects_a_dir_without_tf_files_and_a_file(tfo: Tfo, terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve()
    config = write_stack(root / "stack", [W("net"), W("app", depends_on=["net"])], binary=terraform.binary)
    (root / "stack" / "app" / "main.tf").rename(root / "stack" / "app" / "main.tf.txt")
    line = one_error_line(tfo.run("validate", config))
    assert "workspace 'app'" in line and "has no .tf or .tf.json files" in line, line
    assert tfo.run("plan", config).code == 1  # plan refuses it too, before anything runs

    (root / "stack" / "app" / "main.tf.txt").rename(root / "stack" / "app" / "main.tf.json.txt")
    (root / "stack" / "app" / "main.tf.json").write_text('{"output": {"x": {"value": 1}}}\n')
    assert tfo.run("validate", config).code == 0  # a JSON module is a module

    (root / "stack" / "file-not-dir").write_text("")
    text = config.read_text().replace("dir: app", "dir: file-not-dir")
    config.write_text(text)
    line = one_error_line(tfo.run("validate", config))
    assert "dir 'file-not-dir' is not a directory" in line, line


def test_alert_url_variables_are_not_needed_to_validate_graph_or_plan(tfo: Tfo, terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve()
    top = {"alerts": {"urls": ["json://127.0.0.1:9/${TFO_TEST_UNSET_HOOK_TOKEN}"]}}
    config = write_stack(root / "stack", [W("one")], binary=terraform.binary, top=top)
    tfo.env.pop("TFO_TEST_UNSET_HOOK_TOKEN", None)
    assert tfo.run("validate", config).code == 0
    assert tfo.run("graph", config).code == 0
    planned = tfo.run("plan", config, "--json")
    assert planned.code == 2, planned
    assert "TFO_TEST_UNSET_HOOK_TOKEN" not in planned.stderr


def test_plan_of_a_never_applied_stack_waits_for_the_upstream_apply(tfo: Tfo, terraform, tmp_path: Path) -> None:
    root = tmp_path.resolve()
    config = write_stack(
        root / "stack",
        [
            W("net", outputs={"vpc_id": '"vpc-1"'}),
            W("app", depends_on=["net"], inputs=[("net", "vpc_id", "vpc_id")], variables={"vpc_id": "string"},
              outputs={"name": '"app-1"'}),
            W("web", depends_on=["app"], inputs=[("app", "name", "app")], variables={"app": "string"}),
        ],
        binary=terraform.binary,
    )
    text = tfo.run("plan", config)
    assert text.code == 2, text  # changes, not a failure
    assert "waiting for an upstream apply: app, web" in text.stdout, text
    assert "failed" not in text.stdout, text
    doc = tfo.run("plan", config, "--json")
    assert doc.code == 2, doc
    report = doc.json()
    assert (report["status"], report["changes"]) == ("succeeded", True)
    assert report["workspaces"]["net"]["status"] == "succeeded"
    for name in ("app", "web"):
        ws = report["workspaces"][name]
        assert ws["status"] == "skipped" and ws["error"] is None, ws
        assert "waiting for its upstream's apply" in ws["detail"], ws
    # Once applied, the same plan has nothing waiting and nothing to change.
    assert tfo.run("apply", config, "--auto-approve").code == 0
    assert tfo.run("plan", config).code == 0
