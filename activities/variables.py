"""Building a workspace's var file: its tfvars, then `vars`, then propagated inputs.

Later sources win. The file is private to one run and one workspace, written
0600, and removed by the caller as soon as terraform has read it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tfo.activities.failures import non_retryable
from tfo.config.errors import ConfigError, ErrorType
from tfo.config.payloads import InputValue, SensitiveRef, WorkspaceSpec
from tfo.config.tfvars import read_tfvars

# Reads `terraform output -json` of a workspace: (binary, dir) -> raw outputs.
OutputReader = Callable[[str, str], Awaitable[dict[str, Any]]]


async def merge_variables(
    ws: WorkspaceSpec, inputs: dict[str, InputValue], read_outputs: OutputReader
) -> dict[str, Any]:
    """The variables for one workspace, with sensitive inputs resolved from upstream state."""
    values: dict[str, Any] = {}
    if ws.tfvars:
        try:
            values.update(read_tfvars(Path(ws.tfvars)))
        except ConfigError as exc:
            raise non_retryable(str(exc), ErrorType.CONFIG) from None
    values.update(ws.vars)
    cache: dict[str, dict[str, Any]] = {}
    for target, item in sorted(inputs.items()):
        values[target] = item.value if item.ref is None else await _resolve(item.ref, cache, read_outputs, ws.name)
    return values


async def _resolve(
    ref: SensitiveRef, cache: dict[str, dict[str, Any]], read_outputs: OutputReader, consumer: str
) -> Any:
    if ref.workspace not in cache:
        cache[ref.workspace] = await read_outputs(ref.binary, ref.dir)
    outputs = cache[ref.workspace]
    if ref.output not in outputs:
        raise non_retryable(
            f"upstream {ref.workspace} has no output {ref.output!r}", ErrorType.MISSING_OUTPUT
        )
    return outputs[ref.output].get("value")


def write_var_file(path: Path, values: dict[str, Any]) -> None:
    """Write a private `.tfvars.json` file (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle, sort_keys=True)
