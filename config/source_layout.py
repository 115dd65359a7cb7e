"""Workspaces of a config whose code comes from git (`source:`).

The client that starts a run has no checkout: a workspace's `dir` and `tfvars` are
paths inside the repository (under `source.path`), checked for shape here and
materialised by each worker at the run's commit. The lock follows the code's
identity (repository and path), not a worker's directory, so two commits of one
workspace, or two workers' trees, still exclude each other.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath

from tfo.config.model import InfraConfig, Workspace
from tfo.config.source_models import GitSource, display_url


def repo_path(source: GitSource, relative: str) -> str:
    """`relative` (a workspace dir or tfvars file) as a normalised path in the repository."""
    joined = PurePosixPath(source.path or ".") / relative
    parts: list[str] = []
    for part in joined.parts:
        if part == "..":
            if not parts:
                raise ValueError("leaves the repository")
            parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts) or "."


def path_problem(relative: str) -> str | None:
    """Why a workspace path cannot be used with a git source, if it cannot."""
    if PurePosixPath(relative).is_absolute():
        return "must be relative to the git source's path, not absolute"
    return None


def source_lock_key(source: GitSource, ws: Workspace) -> str:
    """The lock of a workspace in a repository: the same for every commit and worker."""
    where = f"{display_url(source.git)}#{repo_path(source, ws.dir)}"
    digest = hashlib.sha256(where.encode()).hexdigest()[:16]
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", PurePosixPath(ws.dir).name).strip("-.")[:40] or "root"
    return f"{label}-{digest}"


def source_problems(config: InfraConfig) -> list[tuple[int, str, str]]:
    """(workspace index, field, problem) for every dir or tfvars a git source cannot use."""
    assert config.source is not None
    found = []
    for i, ws in enumerate(config.workspaces):
        for field, value in (("dir", ws.dir), ("tfvars", ws.tfvars)):
            if value is None:
                continue
            problem = path_problem(value)
            if problem is None:
                try:
                    repo_path(config.source, value)
                except ValueError as exc:
                    problem = str(exc)
            if problem:
                found.append((i, field, f"{field} {value!r} {problem}"))
    return found
