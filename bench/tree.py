"""Writing a generated DAG out as real terraform workspaces, plus the baselines' scripts.

Every workspace `wNNN/` holds one `main.tf`:

- `full` (the default): the null provider 2.1.2, a `null_resource` whose triggers
  take one variable per upstream, and an output `id` derived from the resource;
- `tiny` (for the scale runs): no provider and no resource, only outputs;
- `large` (the scale series' large-outputs case): `tiny` plus an output `blob`, a
  string of `LARGE_OUTPUT_BYTES` hex characters that nothing consumes.

A variable `in_wMMM` is wired from upstream `wMMM`'s output `id` through infra.yaml
`inputs`; the baselines do the same wiring with `terraform output -json` and a tiny
Python step (`varfile.py`).
"""

from __future__ import annotations

import hashlib
import shlex
import sys
from pathlib import Path

import yaml

from bench.dags import Edges

LARGE_OUTPUT_BYTES = 8192


def blob(name: str, size: int = LARGE_OUTPUT_BYTES) -> str:
    """`size` hex characters, different per workspace (so nothing along the way dedups them)."""
    text, digest = "", name.encode()
    while len(text) < size:
        digest = hashlib.sha256(digest).digest()
        text += digest.hex()
    return text[:size]


PROVIDER = """terraform {
  required_providers {
    null = { source = "hashicorp/null", version = "2.1.2" }
  }
}
"""

# The baselines' per-workspace work: init, upstream outputs into a var file, plan -out,
# show -json, output -json (for downstream var files). Times go to $BENCH_TIMES.
STEP_SH = r"""#!/usr/bin/env bash
# usage: step.sh WORKSPACE [UPSTREAM...]
set -euo pipefail
ws=$1; shift
cd "$BENCH_ROOT/$ws"
start=$EPOCHREALTIME
"$TF" init -input=false -no-color >/dev/null
"$BENCH_PY" -S -E "$BENCH_ROOT/varfile.py" "$@" >bench.tfvars.json
"$TF" plan -input=false -no-color -lock-timeout=30s -var-file=bench.tfvars.json -out=bench.tfplan >/dev/null
"$TF" show -json -no-color bench.tfplan >bench.plan.json
"$TF" output -json -no-color >bench.outputs.json
echo "$ws $start $EPOCHREALTIME" >>"$BENCH_TIMES"
"""

# The same work trimmed to what a repeated tfo drift check runs (init and validate
# skipped by its markers, outputs read from the plan): the var file, plan -out, show -json.
STEP_LEAN_SH = r"""#!/usr/bin/env bash
# usage: step_lean.sh WORKSPACE [UPSTREAM...]
set -euo pipefail
ws=$1; shift
cd "$BENCH_ROOT/$ws"
start=$EPOCHREALTIME
"$BENCH_PY" -S -E "$BENCH_ROOT/varfile.py" --from-plan "$@" >bench.tfvars.json
"$TF" plan -input=false -no-color -lock-timeout=30s -var-file=bench.tfvars.json -out=bench.tfplan >/dev/null
"$TF" show -json -no-color bench.tfplan >bench.lean.plan.json
echo "$ws $start $EPOCHREALTIME" >>"$BENCH_TIMES"
"""

VARFILE_PY = '''"""Write upstream outputs as a var file: in_<upstream> = <upstream>.id (stdout).

Read from `terraform output -json` files, or with --from-plan from the prior state
in `terraform show -json` of the upstream's plan (as tfo does).
"""
import json
import sys

args = sys.argv[1:]
from_plan = bool(args) and args[0] == "--from-plan"
values = {}
for up in args[1:] if from_plan else args:
    if from_plan:
        with open(f"../{up}/bench.lean.plan.json") as handle:
            outputs = json.load(handle)["prior_state"]["values"]["outputs"]
    else:
        with open(f"../{up}/bench.outputs.json") as handle:
            outputs = json.load(handle)
    values[f"in_{up}"] = outputs["id"]["value"]
json.dump(values, sys.stdout)
'''


def main_tf(name: str, deps: list[str], *, kind: str) -> str:
    variables = "".join(f'variable "in_{d}" {{\n  type = string\n}}\n\n' for d in deps)
    if kind in ("tiny", "large"):
        joined = ", ".join(f"var.in_{d}" for d in deps)
        text = (
            variables
            + f'output "id" {{\n  value = "{name}"\n}}\n\n'
            + f'output "inputs" {{\n  value = join(",", [{joined}])\n}}\n'
        )
        if kind == "large":
            text += f'\noutput "blob" {{\n  value = "{blob(name)}"\n}}\n'
        return text
    triggers = "".join(f"    in_{d} = var.in_{d}\n" for d in deps)
    return (
        PROVIDER
        + "\n"
        + variables
        + 'resource "null_resource" "this" {\n  triggers = {\n'
        + f'    name = "{name}"\n'
        + triggers
        + "  }\n}\n\n"
        + f'output "id" {{\n  value = "{name}-${{null_resource.this.id}}"\n}}\n'
    )


def write_tree(root: Path, edges: Edges, *, binary: str, parallelism: int, kind: str = "full") -> Path:
    """Write the workspaces, infra.yaml, the Makefile and the sequential script; return infra.yaml."""
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for name in sorted(edges):
        deps = edges[name]
        directory = root / name
        directory.mkdir(exist_ok=True)
        (directory / "main.tf").write_text(main_tf(name, deps, kind=kind))
        entry: dict[str, object] = {"name": name, "dir": name, "dependsOn": deps}
        if deps:
            entry["inputs"] = [{"sourceWorkspace": d, "sourceOutput": "id", "targetVar": f"in_{d}"} for d in deps]
        entries.append(entry)
    config = {
        "name": f"bench-{root.name}",
        "workspace_root": ".",
        "terraform": {"binary": binary, "parallelism": parallelism, "lock_timeout": "30s"},
        "workspaces": entries,
    }
    path = root / "infra.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    (root / "step.sh").write_text(STEP_SH)
    (root / "step_lean.sh").write_text(STEP_LEAN_SH)
    (root / "varfile.py").write_text(VARFILE_PY)
    (root / "Makefile").write_text(makefile(edges))
    (root / "sequential.sh").write_text(sequential_script(edges))
    return path


def makefile(edges: Edges) -> str:
    """The DAG as Makefile prerequisites; `make -jP` runs it with P jobs."""
    names = sorted(edges)
    lines = [
        "# Generated by bench/tree.py: one phony target per workspace, the DAG as prerequisites.",
        "# STEP=step_lean.sh runs only what a repeated tfo drift check runs.",
        "STEP ?= step.sh",
        ".PHONY: all " + " ".join(names),
        "all: " + " ".join(names),
        "",
    ]
    for name in names:
        deps = " ".join(edges[name])
        lines.append(f"{name}: {deps}".rstrip())
        lines.append(f"\t@bash $(BENCH_ROOT)/$(STEP) {name} {deps}".rstrip())
    return "\n".join(lines) + "\n"


def sequential_script(edges: Edges) -> str:
    """A plain shell loop over the workspaces in topological order."""
    lines = ["#!/usr/bin/env bash", "set -euo pipefail"]
    for name in sorted(edges):
        args = " ".join(shlex.quote(a) for a in [name, *edges[name]])
        lines.append(f'bash "$BENCH_ROOT/step.sh" {args}')
    return "\n".join(lines) + "\n"


def baseline_env(root: Path, *, binary: str, times: Path, base: dict[str, str]) -> dict[str, str]:
    """The environment the generated scripts expect."""
    return {
        **base,
        "BENCH_ROOT": str(root),
        "BENCH_TIMES": str(times),
        "BENCH_PY": sys.executable,
        "TF": binary,
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }
