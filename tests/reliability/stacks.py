"""main.tf bodies the reliability scenarios need beyond tests/stacks.py."""

from __future__ import annotations

from pathlib import Path

from tests.stacks import PROVIDER, write_stack
from tests.stacks import WorkspaceTemplate as W


def provisioned(name: str, command: str, *, trigger: str = "v1", outputs: str = "") -> str:
    """One null_resource running `command` (a shell line) when it is created."""
    escaped = command.replace("\\", "\\\\").replace('"', '\\"')
    return (
        PROVIDER
        + f'\nresource "null_resource" "{name}" {{\n'
        + f'  triggers = {{\n    trigger = "{trigger}"\n  }}\n'
        + '  provisioner "local-exec" {\n'
        + f'    command = "{escaped}"\n'
        + "  }\n}\n"
        + outputs
    )


def counted(name: str, counter: Path, *, sleep: float = 0, trigger: str = "v1", first_only: bool = False) -> str:
    """A null_resource whose create appends a line to `counter`, then sleeps (the first time only)."""
    if first_only:
        return provisioned(
            name, f"echo created >> {counter}; [ $(wc -l < {counter}) -gt 1 ] || sleep {sleep}", trigger=trigger
        )
    return provisioned(name, f"echo created >> {counter} && sleep {sleep}", trigger=trigger)


def fails_once(name: str, marker: Path, counter: Path) -> str:
    """A null_resource whose first create fails the way a dropped connection does."""
    command = (
        f"echo attempt >> {counter}; "
        f"if [ ! -f {marker} ]; then touch {marker}; "
        "echo 'Error: read tcp 10.0.0.7:52814->10.0.0.1:443: read: connection reset by peer' >&2; exit 1; fi"
    )
    return provisioned(name, command)


def many_resources(count: int) -> str:
    """A module whose plan holds the state lock for a few seconds (about 2 s per 1000 here)."""
    blocks = [PROVIDER]
    blocks += [f'resource "null_resource" "r{i}" {{\n  triggers = {{ i = "{i}" }}\n}}\n' for i in range(count)]
    return "\n".join(blocks)


UNDECLARED = PROVIDER + 'resource "null_resource" "x" {\n  triggers = {\n    a = var.nope\n  }\n}\n'


def failing_stack(root: Path, binary: str, **top: object) -> Path:
    """`hcl`: invalid HCL; `undeclared`: valid HCL that `terraform validate` rejects; `fine`: plans."""
    config = write_stack(
        root, [W("hcl", broken=True), W("undeclared"), W("fine")], binary=binary, top=dict(top) or None
    )
    (root / "undeclared" / "main.tf").write_text(UNDECLARED)
    return config
