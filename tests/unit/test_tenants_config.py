"""Task queues and tenants in infra.yaml: validation, and which queue each workspace runs on.

Invalid configs go through the real CLI (`tfo validate`) and must fail with exit 1 and
one stderr line naming the file, the YAML line (marked `#<` below) and the culprit.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tfo.config.loader import load_config, snapshot
from tfo.daemon.commands.worker import served_queues
from tfo.daemon.main import run

MARK = "#<"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "original-schema" / "infra.yaml"


def y(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@dataclass(frozen=True)
class Case:
    id: str
    config: str
    expect: tuple[str, ...]

    def line(self) -> int:
        [number] = [n for n, text in enumerate(self.config.splitlines(), start=1) if MARK in text]
        return number


WORKSPACES = """
    workspaces:
      - name: vpc-a
        dir: .
      - name: app-a
        dir: .
        dependsOn: [vpc-a]
      - name: vpc-b
        dir: .
"""

INVALID = [
    Case(
        "workspace-task-queue-misspelt",
        y("""
            workspaces:
              - name: vpc
                dir: .
                taskQueu: prod  #<
            """),
        ("unknown key 'taskQueu'", "did you mean 'taskQueue'?"),
    ),
    Case(
        "workspace-task-queue-snake-misspelt",
        y("""
            workspaces:
              - name: vpc
                dir: .
                task_queu: prod  #<
            """),
        ("unknown key 'task_queu'", "did you mean 'task_queue'?"),
    ),
    Case(
        "workspace-task-queue-unsafe",
        y("""
            workspaces:
              - name: vpc
                dir: .
                taskQueue: "prod queue"  #<
            """),
        ("workspaces[0] (vpc).taskQueue", "unsafe name 'prod queue'"),
    ),
    Case(
        "workspace-task-queue-not-a-string",
        y("""
            workspaces:
              - name: vpc
                dir: .
                taskQueue: [prod]  #<
            """),
        ("workspaces[0] (vpc).taskQueue", "got list"),
    ),
    Case(
        "top-level-task-queue-unsafe",
        y("""
            task_queue: ../tfo  #<
            workspaces:
              - name: vpc
                dir: .
            """),
        ("task_queue", "unsafe name '../tfo'"),
    ),
    Case(
        "worker-timeout-invalid",
        y("""
            terraform:
              worker_timeout: soon  #<
            workspaces:
              - name: vpc
                dir: .
            """),
        ("terraform.worker_timeout", "invalid duration 'soon'"),
    ),
    Case(
        "tenant-unknown-workspace",
        y(
            """
            tenants:
              - name: team-a
                workspaces: [vpc-a, app-aa]  #<
                taskQueue: team-a-queue
            """
        )
        + y(WORKSPACES),
        ("tenants[0] (team-a)", "unknown workspace 'app-aa'", "did you mean 'app-a'?"),
    ),
    Case(
        "tenant-unknown-workspace-no-hint",
        y(
            """
            tenants:
              - name: team-a
                workspaces:
                  - vpc-a
                  - zzzzzz  #<
            """
        )
        + y(WORKSPACES),
        ("tenants[0] (team-a)", "unknown workspace 'zzzzzz'"),
    ),
    Case(
        "workspace-in-two-tenants",
        y(
            """
            tenants:
              - name: team-a
                workspaces: [vpc-a, app-a]
                taskQueue: team-a-queue
              - name: team-b
                workspaces:
                  - vpc-b
                  - app-a  #<
                taskQueue: team-b-queue
            """
        )
        + y(WORKSPACES),
        ("tenants[1] (team-b)", "workspace 'app-a' is already in tenant 'team-a'"),
    ),
    Case(
        "workspace-twice-in-one-tenant",
        y(
            """
            tenants:
              - name: team-a
                workspaces:
                  - vpc-a
                  - vpc-a  #<
            """
        )
        + y(WORKSPACES),
        ("tenants[0] (team-a)", "lists workspace 'vpc-a' twice"),
    ),
    Case(
        "duplicate-tenant-name",
        y(
            """
            tenants:
              - name: team-a
                workspaces: [vpc-a]
              - name: team-a  #<
                workspaces: [vpc-b]
            """
        )
        + y(WORKSPACES),
        ("tenants[1] (team-a)", "duplicate tenant name", "first defined as tenants[0]"),
    ),
    Case(
        "tenant-unknown-key",
        y(
            """
            tenants:
              - name: team-a
                workspaces: [vpc-a]
                taskqueue: team-a-queue  #<
            """
        )
        + y(WORKSPACES),
        ("tenants[0] (team-a)", "unknown key 'taskqueue'", "did you mean 'taskQueue'?"),
    ),
    Case(
        "tenant-missing-workspaces",
        y(
            """
            tenants:
              - name: team-a  #<
                taskQueue: team-a-queue
            """
        )
        + y(WORKSPACES),
        ("tenants[0] (team-a).workspaces", "required key is missing"),
    ),
    Case(
        "tenant-unsafe-queue",
        y(
            """
            tenants:
              - name: team-a
                workspaces: [vpc-a]
                task_queue: "team a"  #<
            """
        )
        + y(WORKSPACES),
        ("tenants[0] (team-a).task_queue", "unsafe name 'team a'"),
    ),
    Case(
        "tenants-not-a-list",
        y(
            """
            tenants: team-a  #<
            """
        )
        + y(WORKSPACES),
        ("tenants", "got string"),
    ),
]


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.id)
def test_invalid_queue_and_tenant_config_fails_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Case
) -> None:
    path = tmp_path / "infra.yaml"
    path.write_text(case.config)

    code = run(["validate", str(path)])

    out, err = capsys.readouterr()
    assert code == 1, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"tfo: error: {path}:{case.line()}: "), lines[0]
    for needle in case.expect:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


def test_case_ids_are_unique() -> None:
    assert len({c.id for c in INVALID}) == len(INVALID)


def _queues(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "infra.yaml"
    path.write_text(y(text))
    snap = snapshot(load_config(path), state_dir=tmp_path / ".tfo")
    return {ws.name: ws.task_queue for ws in snap.workspaces}


def test_tenant_queue_applies_unless_the_workspace_sets_its_own(tmp_path: Path) -> None:
    queues = _queues(
        tmp_path,
        """
        task_queue: shared
        tenants:
          - name: team-a
            workspaces: [vpc-a, app-a]
            taskQueue: team-a-queue
          - name: team-b
            workspaces: [vpc-b]
            task_queue: team-b-queue
          - name: team-c
            workspaces: [db]
        workspaces:
          - {name: vpc-a, dir: .}
          - {name: app-a, dir: ., dependsOn: [vpc-a], taskQueue: app-a-prod}
          - {name: vpc-b, dir: .}
          - {name: db, dir: .}
          - {name: loner, dir: .}
        """,
    )
    assert queues == {
        "vpc-a": "team-a-queue",
        "app-a": "app-a-prod",  # the workspace's own queue wins
        "vpc-b": "team-b-queue",  # snake_case on the tenant
        "db": "shared",  # a tenant with no queue groups only
        "loner": "shared",
    }


def test_default_queue_is_tfo_and_workspace_keys_accept_both_spellings(tmp_path: Path) -> None:
    queues = _queues(
        tmp_path,
        """
        workspaces:
          - {name: a, dir: .}
          - {name: b, dir: ., taskQueue: q-b}
          - {name: c, dir: ., task_queue: q-c}
        """,
    )
    assert queues == {"a": "tfo", "b": "q-b", "c": "q-c"}


def test_task_queues_lists_every_queue_the_config_names(tmp_path: Path) -> None:
    path = tmp_path / "infra.yaml"
    path.write_text(
        y("""
            taskQueue: wf
            tenants:
              - {name: t, workspaces: [a], taskQueue: tenant-q}
            workspaces:
              - {name: a, dir: .}
              - {name: b, dir: ., taskQueue: own-q}
              - {name: c, dir: .}
            """)
    )
    assert load_config(path).task_queues() == ["own-q", "tenant-q", "wf"]


def test_worker_timeout_defaults_to_10m_and_reaches_the_run_settings(tmp_path: Path) -> None:
    path = tmp_path / "infra.yaml"
    path.write_text("workspaces:\n  - {name: a, dir: .}\n")
    assert snapshot(load_config(path), state_dir=tmp_path).settings.worker_timeout == timedelta(minutes=10)
    path.write_text("terraform:\n  worker_timeout: 90s\nworkspaces:\n  - {name: a, dir: .}\n")
    assert snapshot(load_config(path), state_dir=tmp_path).settings.worker_timeout == timedelta(seconds=90)


def test_original_schema_example_validates_with_a_queue_per_workspace() -> None:
    loaded = load_config(EXAMPLE)
    keys = set()
    for ws in loaded.config.workspaces:
        keys |= ws.model_fields_set
    # Every workspace key the original's white paper shows, plus taskQueue.
    assert keys >= {"name", "kind", "dir", "tfvars", "depends_on", "inputs", "operations", "task_queue"}
    assert {ws.name: ws.task_queue for ws in loaded.config.workspaces} == {
        "vpc": "network-queue",
        "subnets": "network-queue",
        "app": "app-queue",
    }
    ops = {ws.name: [str(op) for op in ws.operations] for ws in loaded.config.workspaces}
    assert ops["subnets"] == ["init", "validate", "plan", "apply"]
    assert ops["app"] == ["init", "validate", "plan"]  # plan-only, downstream of applied ones
    # Only the original's keys: no tfo-only sections.
    assert loaded.config.model_fields_set == {"workspace_root", "workspaces"}


@pytest.mark.parametrize(
    ("given", "serve_default", "activity_queues"),
    [
        ([], True, []),  # no --task-queue: the workflow queue, in full
        (["prod"], False, ["prod"]),  # only prod's terraform
        (["prod", "staging", "prod"], False, ["prod", "staging"]),
        (["tfo", "prod"], True, ["prod"]),  # naming the workflow queue serves it in full
    ],
)
def test_worker_serves_only_the_queues_it_is_given(
    given: list[str], serve_default: bool, activity_queues: list[str]
) -> None:
    assert served_queues(given, "tfo") == (serve_default, activity_queues)
