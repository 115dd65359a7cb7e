"""Where a run keeps its files: `STATE_DIR/runs/RUN_ID/WORKSPACE/`.

The state dir sits next to the config, which every worker must already reach to
see the workspaces, so a plan saved by one worker can be applied by another.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def run_dir(state_dir: str, run_id: str, workspace: str) -> Path:
    return Path(state_dir) / "runs" / run_id / workspace


def attempt_dir(run_dir: Path, attempt: int) -> Path:
    """Where one attempt of a plan activity writes its var file and draft plan."""
    return run_dir / f"attempt-{attempt}"


def private_dirs(state_dir: Path, run_dir: Path) -> None:
    """Create `runs/`, `runs/RUN_ID/` and the workspace's dir, each mode 0700.

    `mkdir(parents=True, mode=...)` gives the mode to the last one only; the others
    would be world-readable and list which runs and workspaces exist.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir
    for part in run_dir.relative_to(state_dir).parts:
        path = path / part
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            if path.stat().st_mode & 0o077:
                path.chmod(0o700)


def plan_path(state_dir: str, run_id: str, workspace: str) -> Path:
    return run_dir(state_dir, run_id, workspace) / "plan.tfplan"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# Settings from the environment that change what init configures: CLI arguments (a
# `-backend-config` passed through TF_CLI_ARGS_init) and backend settings terraform
# reads itself. Only their digest is kept, never their values.
_INIT_ENV = ("TF_CLI_CONFIG_FILE", "TF_CLI_ARGS", "TF_CLI_ARGS_init", "TF_DATA_DIR", "PG_CONN_STR", "PG_SCHEMA_NAME")


def init_fingerprint(ws_dir: Path, binary: str, env: dict[str, str]) -> str:
    """What `init` depends on: the binary, the module's files, the lock file and the
    environment's CLI and backend settings (moving the backend re-inits)."""
    digest = hashlib.sha256()
    digest.update(binary.encode())
    digest.update(str(os.stat(binary).st_mtime_ns).encode())
    for key in _INIT_ENV:
        digest.update(f"{key}={env.get(key, '')}\0".encode())
    for path in sorted(ws_dir.iterdir()):
        if path.suffix in (".tf", ".hcl") or path.name.endswith(".tf.json"):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def init_marker(state_dir: str, lock_key: str) -> Path:
    return Path(state_dir) / "init" / f"{lock_key}.json"


def read_marker(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
