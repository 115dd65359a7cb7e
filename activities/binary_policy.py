"""Which executables a worker may run: decided by the worker, never by a workflow payload.

A run's payload names a binary for each workspace (`terraform`, `tofu`, a path), but
anyone who can start a workflow on the worker's Temporal server writes that payload:
on an embedded dev server, any local user. So a worker runs a binary only when its
real path (symlinks resolved) is one the worker itself allows:

- the binaries named in the configs the process was started with (`tfo plan|apply
  CONFIG`, `tfo daemon CONFIG`), registered with `allow_binaries`;
- `--allow-binary` on `tfo worker` / `tfo daemon`, also registered here;
- `TFO_ALLOWED_BINARIES` (os.pathsep-separated), read at each check;
- `terraform` and `tofu` as found on the worker's own PATH.

Names are looked up on the worker's PATH; paths are resolved to real paths. A
binary that resolves elsewhere (a `terraform` script in /tmp, say) is refused
before anything is executed.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path

from tfo.config.errors import TerraformError

ENV_VAR = "TFO_ALLOWED_BINARIES"
DEFAULT_NAMES = ("terraform", "tofu")

_lock = threading.Lock()
_registered: list[tuple[str, str | None]] = []  # (binary, base dir for a relative path)


class BinaryNotAllowedError(TerraformError):
    """The payload names a binary this worker was not told it may run."""


def allow_binaries(binaries: Iterable[str], *, base: Path | None = None) -> None:
    """Let this process's workers run `binaries` (names, or paths relative to `base`)."""
    with _lock:
        for binary in binaries:
            if binary and "\0" not in binary:
                _registered.append((binary, str(base) if base else None))


def _real(binary: str, base: str | None) -> str | None:
    """The real path of an executable, or None if there is none."""
    if os.sep not in binary:
        found = shutil.which(binary)
        return os.path.realpath(found) if found else None
    path = binary if os.path.isabs(binary) or base is None else os.path.join(base, binary)
    real = os.path.realpath(path)
    return real if os.path.isfile(real) and os.access(real, os.X_OK) else None


def allowed_paths() -> set[str]:
    """The real paths this process's workers may execute, as of now."""
    with _lock:
        entries = list(_registered)
    env = os.environ.get(ENV_VAR, "")
    entries += [(item, None) for item in env.split(os.pathsep) if item.strip()]
    entries += [(name, None) for name in DEFAULT_NAMES]
    return {real for binary, base in entries if (real := _real(binary, base))}


def check_binary(binary: str, *, cwd: Path | None = None) -> str:
    """The absolute, real path to execute for `binary`, if this worker allows it.

    Raises:
        TerraformError: it does not exist or is not executable.
        BinaryNotAllowedError: it resolves to a path the worker does not allow.
    """
    if "\0" in binary or not binary:
        raise BinaryNotAllowedError("the terraform binary name is empty or holds a NUL byte")
    real = _real(binary, str(cwd) if cwd else None)
    if real is None:
        where = "on PATH" if os.sep not in binary else "as an executable file"
        raise TerraformError(f"terraform binary {binary!r} not found {where}")
    if real not in allowed_paths():
        raise BinaryNotAllowedError(
            f"terraform binary {binary!r} is not allowed on this worker (it resolves to {real}); "
            f"an operator can allow it with --allow-binary or {ENV_VAR}"
        )
    return real


def config_binaries(config_path: Path) -> list[str]:
    """The binaries a config file names (top-level and per workspace), read leniently.

    A config that cannot be read yields nothing here: the command that loads it
    reports the error properly.
    """
    from tfo.config.errors import TfoError
    from tfo.config.yaml_source import read_yaml

    try:
        data = read_yaml(config_path).data
    except (TfoError, OSError):
        return []
    if not isinstance(data, dict):
        return []
    found: list[str] = []
    terraform = data.get("terraform")
    found.append(terraform.get("binary", "terraform") if isinstance(terraform, dict) else "terraform")
    for ws in data.get("workspaces") or []:
        if isinstance(ws, dict) and isinstance(ws.get("binary"), str):
            found.append(ws["binary"])
    return [b for b in found if isinstance(b, str)]


def allow_config(config_path: Path) -> None:
    """Allow the binaries a config file names; relative paths are taken from its directory."""
    allow_binaries(config_binaries(config_path), base=config_path.resolve().parent)
