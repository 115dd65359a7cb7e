"""tfo stacks whose workspaces keep their state in terraform's `pg` backend.

Each workspace gets a `backend.tf` with `backend "pg" { schema_name = ... }`: one schema
per workspace, since the backend names the row of the default workspace `default` in
every schema. The connection string stays out of the files. tfo runs a bare
`terraform init` (activities/runner.py `init_args`), so it reaches terraform through the
environment of the worker:

- `TF_CLI_ARGS_init=-backend-config=conn_str=...` for every terraform (1.0.3 reads no
  `PG_CONN_STR`: its `conn_str` is required, and init fails without it);
- `PG_CONN_STR` too, which terraform >= 1.5 and OpenTofu read on their own.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.integration.postgres import Database
from tests.stacks import PROVIDER, write_stack
from tests.stacks import WorkspaceTemplate as W


def schema_for(workspace: str) -> str:
    return "tfo_" + workspace.replace("-", "_")


def backend_tf(schema: str) -> str:
    return f'terraform {{\n  backend "pg" {{\n    schema_name = "{schema}"\n  }}\n}}\n'


def pg_env(conn_str: str) -> dict[str, str]:
    """What a worker (and any terraform run by hand) needs in its environment to reach the backend."""
    return {"TF_CLI_ARGS_init": f"-backend-config=conn_str={conn_str}", "PG_CONN_STR": conn_str}


def write_pg_stack(
    root: Path,
    workspaces: list[W],
    *,
    binary: str,
    settings: dict[str, Any] | None = None,
    top: dict[str, Any] | None = None,
) -> Path:
    """tests.stacks.write_stack, plus a pg backend (a schema of its own) in every workspace."""
    config = write_stack(root, workspaces, binary=binary, settings=settings, top=top)
    for ws in workspaces:
        (root / ws.name / "backend.tf").write_text(backend_tf(schema_for(ws.name)))
    return config


def counted_resource(name: str, counter: Path, *, sleep: float = 0, variables: tuple[str, ...] = ()) -> str:
    """A null_resource whose create appends "created" to `counter`, then sleeps.

    Args:
        variables: Variables (declared elsewhere) that are triggers of the resource.
    """
    triggers = "".join(f"    {var} = var.{var}\n" for var in variables)
    return (
        f'resource "null_resource" "{name.replace("-", "_")}" {{\n'
        + f'  triggers = {{\n    trigger = "v1"\n{triggers}  }}\n'
        + '  provisioner "local-exec" {\n'
        + f'    command = "echo created >> {counter} && sleep {sleep}"\n'
        + "  }\n}\n"
    )


def counted_main_tf(
    name: str,
    counter: Path,
    *,
    sleep: float = 0,
    variables: tuple[str, ...] = (),
    outputs: Mapping[str, str] | None = None,
) -> str:
    """A module of one `counted_resource`.

    Args:
        variables: String variables, each a trigger of the resource (fed by `inputs:`).
        outputs: Output name -> HCL expression; `id` (the resource's id) when not given.
    """
    lines = [PROVIDER]
    lines += [f'variable "{var}" {{\n  type = string\n}}\n' for var in variables]
    lines.append(counted_resource(name, counter, sleep=sleep, variables=variables))
    for out, expr in (outputs or {"id": f"null_resource.{name.replace('-', '_')}.id"}).items():
        lines.append(f'output "{out}" {{\n  value = {expr}\n}}\n')
    return "\n".join(lines)


def pg_state(database: Database, workspace: str) -> dict[str, Any] | None:
    """The state terraform keeps in postgres for a workspace's default workspace, if any."""
    rows = database.states(schema_for(workspace))
    return json.loads(rows["default"]) if "default" in rows else None


def pg_state_resources(database: Database, workspace: str) -> list[str]:
    """Resource instance addresses in a workspace's state in postgres."""
    state = pg_state(database, workspace) or {}
    return [f"{r['type']}.{r['name']}" for r in state.get("resources", []) for _ in r.get("instances", [])]


def terraform_plan_no_wait(
    binary: str, directory: Path, env: Mapping[str, str], *, variables: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`terraform plan -lock-timeout=0s -detailed-exitcode`: fails at once on a held state lock."""
    args = [binary, "plan", "-input=false", "-no-color", "-lock-timeout=0s", "-detailed-exitcode"]
    args += [f"-var={name}={value}" for name, value in (variables or {}).items()]
    return subprocess.run(
        args, cwd=directory, env=dict(env), capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=120, check=False,
    )
