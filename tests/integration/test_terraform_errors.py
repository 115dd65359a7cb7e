"""terraform's error detail reaches the user: the variable, the reason, the user's own file and line.

Real `tfo plan` processes (embedded mode) run real terraform: the pinned 1.0.3 and,
when installed, the newer one on this machine (1.11.4 has been seen), whose output
layout differs (line wrapping, preconditions, value annotations).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import yaml

from tests.integration.cli_helpers import Tfo
from tests.reliability.mcp_client import call, mcp_session, wait_done
from tfo.activities.tf_diagnostics import MAX_MESSAGE

NEWER = "/usr/local/bin/terraform"

MAIN_TF = """
variable "replicas" {
  type = number
}
variable "env" {
  type = string
  validation {
    condition     = length(var.env) < 4
    error_message = "The env must be shorter than 4 characters."
  }
}
output "replicas" {
  value = var.replicas
}
"""

PRECONDITION_TF = """
variable "size" {
  type = number
}
output "size" {
  value = var.size
  precondition {
    condition     = var.size < 10
    error_message = "The size must stay below 10, got a bigger one."
  }
}
"""


def _binaries(terraform) -> list[str]:  # type: ignore[no-untyped-def]
    found = [terraform.binary]
    if shutil.which(NEWER) and Path(NEWER).resolve() != Path(terraform.binary).resolve():
        found.append(NEWER)
    return found


def _stack(root: Path, binary: str, workspaces: dict[str, tuple[str, str | None, dict[str, object]]]) -> Path:
    """Workspaces: name -> (main.tf, tfvars text or None, vars)."""
    entries = []
    for name, (main_tf, tfvars, values) in workspaces.items():
        directory = root / name
        directory.mkdir(parents=True)
        (directory / "main.tf").write_text(main_tf)
        entry: dict[str, object] = {"name": name, "dir": name}
        if tfvars is not None:
            (directory / "user.tfvars").write_text(tfvars)
            entry["tfvars"] = f"{name}/user.tfvars"
        if values:
            entry["vars"] = values
        entries.append(entry)
    config = root / "infra.yaml"
    config.write_text(yaml.safe_dump({"terraform": {"binary": binary}, "workspaces": entries}, sort_keys=False))
    return config


@pytest.mark.parametrize("which", ["pinned", "newer"])
def test_a_type_mismatch_names_the_variable_the_reason_and_the_users_file(tmp_path, terraform, which) -> None:  # type: ignore[no-untyped-def]
    binaries = _binaries(terraform)
    if which == "newer" and len(binaries) < 2:
        pytest.skip(f"no newer terraform at {NEWER}")
    binary = binaries[0 if which == "pinned" else 1]
    config = _stack(
        tmp_path,
        binary,
        {
            "cluster": (MAIN_TF, '# the user\'s own file\nreplicas = "many"\nenv = "dev"\n', {}),
            "limits": (MAIN_TF, None, {"replicas": 2, "env": "production"}),
        },
    )
    tfo = Tfo(tmp_path, cwd=tmp_path)

    as_json = tfo.run("plan", config, "--json", idle=tmp_path / ".tfo")
    assert as_json.code == 1, str(as_json)
    workspaces = as_json.json()["workspaces"]
    cluster = workspaces["cluster"]["error"]
    assert "var.replicas" in cluster and "a number is required" in cluster, cluster
    assert f"{tmp_path / 'cluster' / 'user.tfvars'} line 2" in cluster, cluster
    assert "vars.tfvars.json" not in cluster and not cluster.startswith("cluster:"), cluster
    assert '"many"' not in cluster  # the snippet (every variable's value) is never shown
    limits = workspaces["limits"]["error"]
    assert "The env must be shorter than 4 characters." in limits, limits
    assert "var.env set by `vars` in the config" in limits or which == "pinned", limits
    assert "production" not in limits
    assert all(len(ws["error"] or "") <= MAX_MESSAGE for ws in workspaces.values())

    text = tfo.run("plan", config, idle=tmp_path / ".tfo")
    assert text.code == 1, str(text)
    output = text.stdout + text.stderr
    assert "cluster: cluster:" not in output and "limits: limits:" not in output, output
    assert "var.replicas" in output and "user.tfvars line 2" in output, output


def test_a_precondition_shows_its_error_message(tmp_path, terraform) -> None:  # type: ignore[no-untyped-def]
    binaries = _binaries(terraform)
    if len(binaries) < 2:
        pytest.skip(f"preconditions need terraform >= 1.2; no newer terraform at {NEWER}")
    config = _stack(tmp_path, binaries[1], {"sizing": (PRECONDITION_TF, None, {"size": 42})})
    result = Tfo(tmp_path, cwd=tmp_path).run("plan", config, "--json", idle=tmp_path / ".tfo")
    assert result.code == 1, str(result)
    error = result.json()["workspaces"]["sizing"]["error"]
    assert "The size must stay below 10, got a bigger one." in error, error
    assert "main.tf line" in error, error


def test_an_agent_sees_the_same_detail_over_mcp(tmp_path, terraform) -> None:  # type: ignore[no-untyped-def]
    """MCP's run view carries the workspace's error as `--json` does: variable, reason, file and line."""
    config = _stack(tmp_path, terraform.binary, {"cluster": (MAIN_TF, 'replicas = "many"\nenv = "dev"\n', {})})

    async def agent() -> dict[str, object]:
        async with mcp_session(tmp_path, tmp_path / ".tfo", "--config-root", tmp_path, log=tmp_path / "mcp.log") as mcp:
            started, _ = await call(mcp, "execute_workflow", config_path=config.name)
            status, shown = await wait_done(mcp, started["workflow_id"])
            assert "var.replicas" in shown, shown  # the readable text names it too
            return status

    status = asyncio.run(agent())
    error = status["workspaces"]["cluster"]["error"]  # type: ignore[index]
    assert "var.replicas" in error and "a number is required" in error, error
    assert f"{tmp_path / 'cluster' / 'user.tfvars'} line 1" in error, error
    assert "vars.tfvars.json" not in error and '"many"' not in error, error
