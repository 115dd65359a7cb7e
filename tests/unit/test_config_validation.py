"""`tfo validate` on broken and valid configs, through the real CLI in-process.

Every invalid config must fail with exit 1 and exactly one stderr line that starts with
`tfo: error: `, names the config file, names the culprit and, where a YAML line is
meaningful, points at it. In the YAML below, `#<` marks the line the error must name.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tfo.daemon.main import run

MARK = "#<"


@dataclass(frozen=True)
class Case:
    id: str
    config: str | bytes
    expect: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)
    dirs: tuple[str, ...] = ()
    # The YAML line the error must name: taken from the `#<` marker when there is one.
    line: int | None = None

    def expected_line(self) -> int | None:
        if self.line is not None or isinstance(self.config, bytes):
            return self.line
        for number, text in enumerate(self.config.splitlines(), start=1):
            if MARK in text:
                return number
        return None


def y(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def _alias_bomb() -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        refs = ",".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    lines.append("workspaces: *a9")
    return "\n".join(lines) + "\n"


def _huge() -> str:
    head = "workspaces:\n  - name: a\n    dir: .\n"
    return head + "# padding\n" * (5 * 1024 * 1024 // 10 + 10)


INVALID: list[Case] = [
    # --- YAML syntax and document shape ---
    Case(
        "yaml-syntax",
        y("""
            workspaces:
              - name: a
                dir: . : x  #<
            """),
        ("YAML syntax error",),
    ),
    Case(
        "yaml-unclosed-flow",
        y("""
            workspaces:
              - name: a
                dir: .
                dependsOn: [b, c
            """),
        ("YAML syntax error",),
    ),
    Case("document-is-list", "- a\n- b\n", ("mapping", "list"), line=1),
    # Inline vars travel in every request for their workspace: bounded, with the way out.
    Case(
        "vars-too-large",
        "workspaces:\n  - name: a\n    dir: .\n    vars:  #<\n      small: 1\n      big: " + "z" * 70_000 + "\n",
        ("workspaces[0] (a).vars", "70,020 bytes", "largest is 'big'", "tfvars file"),
    ),
    Case("document-is-scalar", "just words\n", ("mapping", "string"), line=1),
    Case("document-is-number", "42\n", ("mapping", "number"), line=1),
    Case("empty-file", "", ("empty",)),
    Case("whitespace-only", "  \n\t\n   \n", ("empty",)),
    Case("comment-only", "# nothing here\n", ("no YAML document",)),
    # --- unknown keys, with did-you-mean ---
    Case(
        "unknown-top-level-key",
        y("""
            workspace_rot: .  #<
            workspaces:
              - name: a
                dir: .
            """),
        ("unknown key 'workspace_rot'", "did you mean 'workspace_root'"),
    ),
    Case(
        "unknown-workspace-key-dependson",
        y("""
            workspaces:
              - name: vpc
                dir: .
              - name: subnets
                dir: .
                dependson: [vpc]  #<
            """),
        ("subnets", "unknown key 'dependson'", "did you mean 'dependsOn'"),
    ),
    Case(
        "unknown-workspace-key-inputz",
        y("""
            workspaces:
              - name: vpc
                dir: .
              - name: subnets
                dir: .
                dependsOn: [vpc]
                inputz:  #<
                  - sourceWorkspace: vpc
                    sourceOutput: vpc_id
                    targetVar: vpc_id
            """),
        ("subnets", "unknown key 'inputz'", "did you mean 'inputs'"),
    ),
    Case(
        "unknown-input-key",
        y("""
            workspaces:
              - name: vpc
                dir: .
              - name: subnets
                dir: .
                dependsOn: [vpc]
                inputs:
                  - sourceWorkspace: vpc
                    sourceOutput: vpc_id
                    targetvar: vpc_id  #<
            """),
        ("subnets", "inputs[0]", "unknown key 'targetvar'", "did you mean 'target"),
    ),
    Case(
        "unknown-terraform-key",
        y("""
            terraform:
              parallelizm: 2  #<
            workspaces:
              - name: a
                dir: .
            """),
        ("terraform", "unknown key 'parallelizm'", "did you mean 'parallelism'"),
    ),
    Case(
        "misspelt-workspaces",
        y("""
            workspace:  #<
              - name: a
                dir: .
            """),
        ("unknown key 'workspace'", "did you mean 'workspaces'"),
    ),
    Case(
        "snake-case-typo-gets-snake-case-hint",
        y("""
            workspaces:
              - name: vpc
                dir: .
              - name: subnets
                dir: .
                depends_onn: [vpc]  #<
            """),
        ("unknown key 'depends_onn'", "did you mean 'depends_on'"),
    ),
    Case(
        "unknown-key-with-newline",
        y("""
            workspaces:
              - name: a
                dir: .
                "evil\\nkey": 1  #<
            """),
        ("unknown key 'evil\\nkey'",),
    ),
    # --- wrong types ---
    Case(
        "dependsOn-is-a-string",
        y("""
            workspaces:
              - name: vpc
                dir: .
              - name: subnets
                dir: .
                dependsOn: "vpc"  #<
            """),
        ("subnets", "dependsOn", "list", "got string"),
    ),
    Case(
        "parallelism-not-int",
        y("""
            terraform:
              parallelism: "x"  #<
            workspaces:
              - name: a
                dir: .
            """),
        ("terraform.parallelism", "integer"),
    ),
    Case(
        "parallelism-zero",
        y("""
            terraform:
              parallelism: 0  #<
            workspaces:
              - name: a
                dir: .
            """),
        ("terraform.parallelism",),
    ),
    Case(
        "workspaces-not-a-list",
        y("""
            workspaces:  #<
              name: a
            """),
        ("workspaces", "list"),
    ),
    Case("no-workspaces", "name: x\n", ("workspaces", "missing"), line=1),
    Case("empty-workspaces", "workspaces: []  #<\n", ("workspaces",)),
    # --- names ---
    Case(
        "duplicate-names",
        y("""
            workspaces:
              - name: a
                dir: .
              - name: b
                dir: .
              - name: a  #<
                dir: .
            """),
        ("'a'", "duplicate name", "workspaces[0]"),
    ),
    Case(
        "empty-name",
        y("""
            workspaces:
              - name: ""  #<
                dir: .
            """),
        ("workspaces[0]", "name", "must not be empty"),
    ),
    *[
        Case(
            f"unsafe-name-{label}",
            f"workspaces:\n  - name: {quoted}  {MARK}\n    dir: .\n",
            ("unsafe name", shown),
        )
        for label, quoted, shown in [
            ("dotdot-slash", "'../x'", "'../x'"),
            ("flag", "'-auto-approve'", "'-auto-approve'"),
            ("space", "'a b'", "'a b'"),
            ("semicolon", "'a;b'", "'a;b'"),
            ("control-byte", '"a\\x01b"', "'a\\x01b'"),
            ("newline", '"a\\nb"', "'a\\nb'"),
            ("terminal-escape", '"\\e[31mred"', "'\\x1b[31mred'"),
            ("hidden", "'.hidden'", "'.hidden'"),
            ("slash", "'a/b'", "'a/b'"),
            ("too-long", "'" + "a" * 64 + "'", "a" * 64),
        ]
    ],
    Case(
        "unsafe-dependsOn-entry",
        y("""
            workspaces:
              - name: a
                dir: .
                dependsOn: ["../etc"]  #<
            """),
        ("unsafe name", "'../etc'"),
    ),
    # --- dependencies ---
    Case(
        "dependsOn-unknown",
        y("""
            workspaces:
              - name: vpc
                dir: .
              - name: subnets
                dir: .
                dependsOn: [vcp]  #<
            """),
        ("'subnets'", "unknown workspace 'vcp'", "did you mean 'vpc'"),
    ),
    Case(
        "dependsOn-self",
        y("""
            workspaces:
              - name: vpc
                dir: .
              - name: subnets
                dir: .
                dependsOn: [vpc, subnets]  #<
            """),
        ("'subnets'", "depends on itself"),
    ),
    Case(
        "cycle-of-three",
        y("""
            workspaces:
              - name: c
                dir: .
                dependsOn: [a]
              - name: b
                dir: .
                dependsOn: [c]
              - name: a
                dir: .
                dependsOn: [b]  #<
              - name: d
                dir: .
                dependsOn: [a]
            """),
        ("cycle: a -> b -> c -> a",),
    ),
    # --- inputs ---
    Case(
        "input-not-a-dependency",
        y("""
            workspaces:
              - name: vpc
                dir: .
              - name: dns
                dir: .
              - name: subnets
                dir: .
                dependsOn: [vpc]
                inputs:
                  - sourceWorkspace: dns  #<
                    sourceOutput: zone_id
                    targetVar: zone_id
            """),
        ("'subnets'", "'dns'", "not a direct or transitive dependency"),
    ),
    Case(
        "input-from-a-dependent",
        y("""
            workspaces:
              - name: vpc
                dir: .
                inputs:
                  - sourceWorkspace: subnets  #<
                    sourceOutput: subnet_ids
                    targetVar: subnet_ids
              - name: subnets
                dir: .
                dependsOn: [vpc]
            """),
        ("'vpc'", "'subnets'", "not a direct or transitive dependency"),
    ),
    Case(
        "two-inputs-same-target",
        y("""
            workspaces:
              - name: vpc
                dir: .
              - name: subnets
                dir: .
                dependsOn: [vpc]
                inputs:
                  - sourceWorkspace: vpc
                    sourceOutput: vpc_id
                    targetVar: vpc_id
                  - sourceWorkspace: vpc  #<
                    sourceOutput: other_id
                    targetVar: vpc_id
            """),
        ("'subnets'", "two inputs", "'vpc_id'"),
    ),
    Case(
        "input-bad-output-name",
        y("""
            workspaces:
              - name: vpc
                dir: .
              - name: subnets
                dir: .
                dependsOn: [vpc]
                inputs:
                  - sourceWorkspace: vpc
                    sourceOutput: "vpc id; rm"  #<
                    targetVar: vpc_id
            """),
        ("subnets", "sourceOutput", "'vpc id; rm'"),
    ),
    # --- operations and kind ---
    Case(
        "unknown-operation",
        y("""
            workspaces:
              - name: a
                dir: .
                operations:
                  - init
                  - destroy  #<
            """),
        ("(a)", "operations[1]", "destroy"),
    ),
    Case(
        "apply-without-plan",
        y("""
            workspaces:
              - name: a
                dir: .
                operations: [init, apply]  #<
            """),
        ("'a'", "'apply' needs 'plan'"),
    ),
    Case(
        "empty-operations",
        y("""
            workspaces:
              - name: a
                dir: .
                operations: []  #<
            """),
        ("'a'", "operations must not be empty"),
    ),
    Case(
        "duplicate-operation",
        y("""
            workspaces:
              - name: a
                dir: .
                operations: [init, plan, plan]  #<
            """),
        ("'a'", "twice"),
    ),
    Case(
        "kind-not-terraform",
        y("""
            workspaces:
              - name: manifests
                kind: kubectl  #<
                dir: .
            """),
        ("manifests", "kind", "terraform", "kubectl"),
    ),
    # --- directories and tfvars ---
    Case(
        "missing-dir-key",
        y("""
            workspaces:
              - name: ok
                dir: .
              - name: nodir  #<
                kind: terraform
            """),
        ("(nodir)", "dir", "required key is missing"),
    ),
    Case(
        "dir-does-not-exist",
        y("""
            workspaces:
              - name: vpc
                dir: terraform/vpc  #<
            """),
        ("'vpc'", "'terraform/vpc'", "does not exist"),
    ),
    Case(
        "dir-with-newline",
        'workspaces:\n  - name: vpc\n    dir: "no\\nsuch"  #<\n',
        ("'vpc'", "'no\\nsuch'", "does not exist"),
    ),
    Case(
        "workspace-root-missing",
        y("""
            workspace_root: nowhere  #<
            workspaces:
              - name: vpc
                dir: .
            """),
        ("'nowhere'", "not a directory"),
    ),
    Case(
        "tfvars-missing",
        y("""
            workspaces:
              - name: vpc
                dir: vpc
                tfvars: vpc/prod.tfvars  #<
            """),
        ("'vpc'", "tfvars file not found", "prod.tfvars"),
        dirs=("vpc",),
    ),
    Case(
        "tfvars-hcl-syntax",
        y("""
            workspaces:
              - name: vpc
                dir: vpc
                tfvars: vpc/bad.tfvars  #<
            """),
        ("'vpc'", "HCL", "bad.tfvars"),
        files={"vpc/bad.tfvars": 'cidr = "10.0.0.0/16"\nregion = = "x"\n'},
    ),
    Case(
        "tfvars-json-invalid",
        y("""
            workspaces:
              - name: vpc
                dir: vpc
                tfvars: vpc/bad.tfvars.json  #<
            """),
        ("'vpc'", "invalid JSON", "bad.tfvars.json"),
        files={"vpc/bad.tfvars.json": '{"cidr": "10.0.0.0/16",}\n'},
    ),
    Case(
        "tfvars-json-list",
        y("""
            workspaces:
              - name: vpc
                dir: vpc
                tfvars: vpc/list.tfvars.json  #<
            """),
        ("'vpc'", "JSON object", "list.tfvars.json"),
        files={"vpc/list.tfvars.json": '["10.0.0.0/16"]\n'},
    ),
    Case(
        "tfvars-not-utf8",
        y("""
            workspaces:
              - name: vpc
                dir: vpc
                tfvars: vpc/latin1.tfvars  #<
            """),
        ("'vpc'", "UTF-8", "latin1.tfvars"),
        files={"vpc/latin1.tfvars": "BYTES:6e616d65203d2022e92220"},
    ),
    # --- durations ---
    Case(
        "bad-lock-timeout",
        y("""
            terraform:
              lock_timeout: 5 minutes  #<
            workspaces:
              - name: a
                dir: .
            """),
        ("terraform.lock_timeout", "'5 minutes'"),
    ),
    # --- hostile YAML ---
    Case("billion-laughs", _alias_bomb(), ("alias",)),
    Case("deep-nesting", "[" * 20000, ("nesting",), line=1),
    Case("deep-nesting-closed", "workspaces: " + "[" * 20000 + "]" * 20000 + "\n", ("nesting",)),
    Case("not-utf8", b"\xff\xfeworkspaces:\n  - name: a\n", ("UTF-8",)),
    Case("too-large", _huge(), ("too large",)),
    Case("python-tag", "workspaces: !!python/object/apply:os.system ['true']\n", ("YAML",)),
]


def _write(tmp_path: Path, case: Case) -> Path:
    for d in case.dirs:
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
        (tmp_path / d / "main.tf").touch()  # a module: tfo refuses a dir without .tf files
    for rel, content in case.files.items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.parent != tmp_path:
            (target.parent / "main.tf").touch()
        if content.startswith("BYTES:"):
            target.write_bytes(bytes.fromhex(content.removeprefix("BYTES:")))
        else:
            target.write_text(content)
    path = tmp_path / "infra.yaml"
    if isinstance(case.config, bytes):
        path.write_bytes(case.config)
    else:
        path.write_text(case.config)
    return path


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.id)
def test_invalid_config_fails_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Case
) -> None:
    path = _write(tmp_path, case)

    code = run(["validate", str(path)])

    out, err = capsys.readouterr()
    assert code == 1, err
    assert out == ""
    assert err.endswith("\n")
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("tfo: error: ")
    assert str(path) in line
    for needle in case.expect:
        assert needle in line, f"{needle!r} not in {line!r}"
    expected = case.expected_line()
    if expected is not None:
        assert line.startswith(f"tfo: error: {path}:{expected}: "), line
    # Nothing unprintable reaches the terminal, even from a hostile name.
    assert line.isprintable(), line


def test_every_case_id_is_unique() -> None:
    ids = [c.id for c in INVALID]
    assert len(ids) == len(set(ids))


def test_validate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nope.yaml"
    assert run(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [f"tfo: error: {path}: file not found"]


def test_validate_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert err.startswith(f"tfo: error: {tmp_path}: ")


def test_several_problems_are_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "infra.yaml"
    path.write_text("workspaces:\n  - name: a\n    dependson: [b]\n    inputz: []\n")
    assert run(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "more problem" in err


# --- valid configs ---------------------------------------------------------------------

SEED = y("""
    workspace_root: .                    # Base path for all workspaces

    workspaces:
      - name: vpc                        # Unique identifier
        kind: terraform                  # Execution engine
        dir: terraform/vpc               # Resource location
        tfvars: terraform/vpc/vars.tfvars  # Variable file
        dependsOn: []                    # No dependencies (root node)
        operations: [init, validate, plan, apply]

      - name: subnets
        kind: terraform
        dir: terraform/subnets
        dependsOn: [vpc]                 # Must complete after VPC
        inputs:                          # Output-to-input mappings
          - sourceWorkspace: vpc
            sourceOutput: vpc_id
            targetVar: vpc_id
        operations: [init, validate, plan, apply]
    """)

SEED_SNAKE = y("""
    workspace_root: .
    task_queue: infra
    terraform:
      binary: tofu
      parallelism: 2
      lock_timeout: 90s
      timeout: 1h30m
      heartbeat_timeout: 30s
      approval_timeout: 2d
    workspaces:
      - name: vpc
        kind: terraform
        dir: terraform/vpc
        tfvars: terraform/vpc/vars.tfvars
        depends_on: []
        task_queue: vpc-queue
        operations: [init, validate, plan, apply]
      - name: subnets
        kind: terraform
        dir: terraform/subnets
        depends_on: [vpc]
        inputs:
          - source_workspace: vpc
            source_output: vpc_id
            target_var: vpc_id
        operations: [init, validate, plan]
    """)


def _seed_tree(tmp_path: Path, config: str) -> Path:
    (tmp_path / "terraform/vpc").mkdir(parents=True)
    (tmp_path / "terraform/subnets").mkdir(parents=True)
    (tmp_path / "terraform/vpc/main.tf").touch()
    (tmp_path / "terraform/subnets/main.tf").touch()
    (tmp_path / "terraform/vpc/vars.tfvars").write_text('cidr = "10.0.0.0/16"\n')
    path = tmp_path / "infra.yaml"
    path.write_text(config)
    return path


@pytest.mark.parametrize("config", [SEED, SEED_SNAKE], ids=["camelCase-seed", "snake_case"])
def test_valid_seed_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str
) -> None:
    path = _seed_tree(tmp_path, config)

    assert run(["validate", str(path)]) == 0

    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines() == [f"{path}: valid: 2 workspaces, 1 dependencies, 2 levels"]


def test_snake_case_values_reach_the_model(tmp_path: Path) -> None:
    from datetime import timedelta

    from tfo.config.loader import load_config

    loaded = load_config(_seed_tree(tmp_path, SEED_SNAKE))
    cfg = loaded.config
    assert cfg.task_queue == "infra"
    assert cfg.terraform.binary == "tofu"
    assert cfg.terraform.lock_timeout == timedelta(seconds=90)
    assert cfg.terraform.approval_timeout == timedelta(days=2)
    subnets = cfg.workspace("subnets")
    assert subnets.depends_on == ["vpc"]
    assert subnets.inputs[0].source_workspace == "vpc"
    assert subnets.inputs[0].target_var == "vpc_id"
    assert cfg.workspace("vpc").task_queue == "vpc-queue"


def test_camel_case_task_queue(tmp_path: Path) -> None:
    path = tmp_path / "infra.yaml"
    path.write_text(
        "taskQueue: infra\nworkspaces:\n  - name: a\n    dir: .\n    taskQueue: q1\n"
    )
    assert run(["validate", str(path)]) == 0


def test_yaml_comments_and_anchors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "infra.yaml"
    path.write_text(
        y("""
            # The whole stack.
            workspaces:
              # roots first
              - name: a    # trailing comment
                dir: .
                operations: &plan-only [init, validate, plan]  # a reusable list
              - name: b
                dir: .   # same dir
                dependsOn: [a]  # after a
                operations: *plan-only
            # trailing comment at the end
            """)
    )
    assert run(["validate", str(path)]) == 0
    assert "valid: 2 workspaces" in capsys.readouterr().out


def test_transitive_input_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "infra.yaml"
    path.write_text(
        y("""
            workspaces:
              - name: vpc
                dir: .
              - name: subnets
                dir: .
                dependsOn: [vpc]
              - name: eks
                dir: .
                dependsOn: [subnets]
                inputs:
                  - sourceWorkspace: vpc
                    sourceOutput: vpc_id
                    targetVar: vpc_id
                  - sourceWorkspace: subnets
                    sourceOutput: subnet_ids
                    targetVar: subnet_ids
            """)
    )
    assert run(["validate", str(path)]) == 0
    assert "valid: 3 workspaces, 2 dependencies, 3 levels" in capsys.readouterr().out


def test_validate_json_on_valid_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _seed_tree(tmp_path, SEED)

    assert run(["validate", "--json", str(path)]) == 0

    out, err = capsys.readouterr()
    assert err == ""
    assert len(out.splitlines()) == 1
    assert json.loads(out) == {
        "valid": True,
        "config": str(path),
        "name": tmp_path.name,
        "workspaces": 2,
        "roots": ["vpc"],
        "max_depth": 1,
        "schedules": 0,
    }


def test_validate_json_on_invalid_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "infra.yaml"
    path.write_text("workspaces:\n  - name: a\n    dir: .\n    dependsOn: [b]\n")

    assert run(["validate", "--json", str(path)]) == 1

    out, err = capsys.readouterr()
    assert err == ""
    assert len(out.splitlines()) == 1
    doc = json.loads(out)
    assert set(doc) == {"valid", "config", "error"}
    assert doc["valid"] is False
    assert doc["config"] == str(path)
    assert doc["error"].startswith(f"{path}:4: ")
    assert "unknown workspace 'b'" in doc["error"]


def test_validate_json_on_unparseable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "infra.yaml"
    path.write_bytes(b"\xff\xfe")
    assert run(["validate", "--json", str(path)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False
    assert "UTF-8" in doc["error"]

