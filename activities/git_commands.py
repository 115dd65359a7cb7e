"""The `git` CLI for the source cache: argument builders, ls-remote parsing, and a runner.

Credentials come only from the worker's environment (credential helpers, SSH keys,
GIT_* variables). git never prompts: GIT_TERMINAL_PROMPT=0, and each command runs in
a new session without a controlling terminal, so ssh cannot ask for a passphrase or a
host key either; it fails instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# Every command: the same commit gives the same bytes on every worker whatever its
# gitconfig says about line endings, and no gc keeps running after we unlock a mirror.
_COMMON = ("-c", "core.autocrlf=false", "-c", "gc.autoDetach=false")
_MAX_CAPTURE = 64 * 1024
# What git appends to every failed transport, after the line that says why.
_BOILERPLATE = frozenset(
    {
        "fatal: Could not read from remote repository.",
        "Please make sure you have the correct access rights",
        "and the repository exists.",
    }
)


@dataclass(frozen=True)
class GitResult:
    """A finished git command."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def last_line(self) -> str:
        """git's last telling stderr line (its reason for failing), or the exit status."""
        lines = [line.strip() for line in self.stderr.splitlines()]
        lines = [line for line in lines if line and line not in _BOILERPLATE]
        if not lines:
            return f"git exited with status {self.returncode}"
        return lines[-1].removeprefix("fatal: ").removeprefix("error: ")


class GitRunner(Protocol):
    """Runs `git ARGS`; tests hand in a wrapper to count or fake calls."""

    async def __call__(
        self, args: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
    ) -> GitResult: ...


def git_env(extra: Mapping[str, str] | None = None, *, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The worker's environment, with prompts off and stalled HTTP transfers aborted."""
    env = dict(os.environ if base is None else base)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("GIT_HTTP_LOW_SPEED_LIMIT", "1000")
    env.setdefault("GIT_HTTP_LOW_SPEED_TIME", "30")
    # No ext::, fd:: or other exotic transports, whatever a URL says.
    env.setdefault("GIT_ALLOW_PROTOCOL", "file:git:http:https:ssh")
    env.update(extra or {})
    return env


async def run_git(args: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> GitResult:
    """Run `git ARGS` to completion; on timeout or cancellation its process group is killed."""
    full = ("git", *_COMMON, *args)
    try:
        proc = await asyncio.create_subprocess_exec(
            *full,
            env=git_env(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError:
        return GitResult(tuple(args), 127, "", "git is not installed on this worker (not found on PATH)")
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        await _kill(proc)
        return GitResult(tuple(args), -1, "", f"git {args[0]} timed out after {timeout:g}s")
    except asyncio.CancelledError:
        await _kill(proc)
        raise
    return GitResult(
        tuple(args),
        proc.returncode if proc.returncode is not None else -1,
        out.decode(errors="replace"),
        err.decode(errors="replace")[-_MAX_CAPTURE:],
    )


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await proc.wait()


def ref_patterns(ref: str) -> list[str]:
    """The exact refs `ref` may name on a remote; `^{}` entries carry annotated tags' commits."""
    if ref == "HEAD":
        return ["HEAD"]
    if ref.startswith("refs/"):
        return [ref, f"{ref}^{{}}"]
    return [f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/tags/{ref}^{{}}"]


def ls_remote_args(url: str, ref: str) -> list[str]:
    # Exact patterns, not `ref` alone: ls-remote matches by tail, so `main` would also
    # match refs/heads/feature/main.
    return ["ls-remote", "--", url, *ref_patterns(ref)]


class AmbiguousRefError(ValueError):
    """`ref` names both a branch and a tag."""


def pick_commit(ls_remote_output: str, ref: str) -> str | None:
    """The commit `ref` names in `git ls-remote` output, or None if it names nothing.

    Raises:
        AmbiguousRefError: `ref` is both a branch and a tag (git would warn and pick
            the tag; a deploy tool should not guess).
    """
    found: dict[str, str] = {}
    for line in ls_remote_output.splitlines():
        sha, _, name = line.partition("\t")
        if sha and name:
            found[name] = sha.strip().lower()
    wanted = ref_patterns(ref)
    if ref != "HEAD" and not ref.startswith("refs/") and wanted[0] in found and wanted[1] in found:
        raise AmbiguousRefError(ref)
    for name in wanted:
        peeled = found.get(f"{name}^{{}}")
        if peeled or name in found:
            return peeled or found[name]
    return None


def git_dir_args(mirror: Path, *, work_tree: Path | None = None) -> list[str]:
    args = ["--git-dir", str(mirror)]
    return [*args, "--work-tree", str(work_tree)] if work_tree is not None else args


def clone_mirror_args(url: str, dest: Path) -> list[str]:
    return ["clone", "--mirror", "--quiet", "--", url, str(dest)]


def fetch_args(mirror: Path) -> list[str]:
    return [*git_dir_args(mirror), "fetch", "--prune", "--quiet", "origin"]


def fetch_commit_args(mirror: Path, commit: str) -> list[str]:
    # For a commit no ref reaches any more; servers that allow it (most hosts) send it.
    return [*git_dir_args(mirror), "fetch", "--quiet", "origin", commit]


def has_commit_args(mirror: Path, commit: str) -> list[str]:
    return [*git_dir_args(mirror), "cat-file", "-e", f"{commit}^{{commit}}"]


def read_tree_args(mirror: Path, tree: Path, commit: str) -> list[str]:
    return [*git_dir_args(mirror, work_tree=tree), "read-tree", commit]


def checkout_index_args(mirror: Path, tree: Path) -> list[str]:
    return [*git_dir_args(mirror, work_tree=tree), "checkout-index", "--all", "--force"]
