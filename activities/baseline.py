"""The baseline fingerprint of a workspace: short digests of what tfo controls.

A plan's changes are `pending` (unapplied changes on tfo's side) when one of these
digests differs from the workspace's baseline, and `drifted` when none does. The
digests are computed where the files are (the worker), once per plan, and travel as
five short strings.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tfo.config.payloads import Baseline, InputValue, WorkspaceSpec

DIGEST_CHARS = 16
# Bounds, so a workspace dir that holds a huge tree cannot stall a plan.
MAX_FILES = 5000
MAX_FILE_BYTES = 8 << 20
_SKIP_DIRS = {".terraform", ".git", ".tfo", "__pycache__", "node_modules"}
_SKIP_SUFFIXES = (".tfplan", ".tfvars.json.tmp", ".backup", ".log")


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:DIGEST_CHARS]


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def _config_files(root: Path) -> Iterator[Path]:
    """The configuration files under `root`: no state, plans, caches or hidden files.

    Skipped dirs (`.terraform` with its providers and modules, `.git`, ...) are never
    walked: this runs on every plan.
    """
    count = 0
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            # State and its backups (`terraform.tfstate.1700000000.backup`) are not configuration.
            if name.startswith(".") or ".tfstate" in name or name.endswith(_SKIP_SUFFIXES):
                continue
            path = Path(directory) / name
            if path.is_symlink() or not path.is_file():
                continue
            count += 1
            if count > MAX_FILES:
                return
            yield path


def _local_module_dirs(ws_dir: Path) -> list[Path]:
    """Module dirs that `init` recorded outside `.terraform` (local `source = "../x"` modules)."""
    manifest = ws_dir / ".terraform" / "modules" / "modules.json"
    try:
        modules = json.loads(manifest.read_text()).get("Modules") or []
    except (OSError, ValueError, AttributeError):
        return []
    dirs = []
    for module in modules:
        rel = str(module.get("Dir") or "")
        if not rel or rel == "." or rel.startswith(".terraform"):
            continue
        path = (ws_dir / rel).resolve()
        if path.is_dir() and path != ws_dir.resolve():
            dirs.append(path)
    return sorted(set(dirs))


def code_digest(ws_dir: Path) -> str:
    parts: list[bytes] = []
    for root in [ws_dir, *_local_module_dirs(ws_dir)]:
        for path in _config_files(root):
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    parts += [str(path.relative_to(root)).encode(), str(path.stat().st_size).encode()]
                    continue
                parts += [str(path.relative_to(root)).encode(), path.read_bytes()]
            except OSError:
                continue
    return _digest(*parts)


def _state_addresses(module: dict[str, Any]) -> Iterator[str]:
    for resource in module.get("resources") or []:
        yield str(resource.get("address", ""))
    for child in module.get("child_modules") or []:
        yield from _state_addresses(child)


def fingerprint(ws: WorkspaceSpec, inputs: dict[str, InputValue], plan: dict[str, Any]) -> Baseline:
    """The workspace's fingerprint at this plan.

    Sensitive inputs count by reference (which upstream output they read), never by
    value: a digest of a short secret could be reversed.
    """
    ws_dir = Path(ws.dir)
    tfvars = b""
    if ws.tfvars:
        try:
            tfvars = Path(ws.tfvars).read_bytes()
        except OSError:
            tfvars = b"(unreadable)"
    try:
        lock = (ws_dir / ".terraform.lock.hcl").read_bytes()
    except OSError:
        lock = b""
    values = {name: item.model_dump(mode="json") for name, item in sorted(inputs.items())}
    root = ((plan.get("prior_state") or {}).get("values") or {}).get("root_module") or {}
    return Baseline(
        code=code_digest(ws_dir),
        variables=_digest(tfvars, _canonical(ws.vars)),
        inputs=_digest(_canonical(values)),
        versions=_digest(str(plan.get("terraform_version", "")).encode(), ws.binary.encode(), lock),
        state=_digest(*(a.encode() for a in sorted(_state_addresses(root)))),
    )
