"""The git source cache against real git and local bare repositories served over file://."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from tfo.activities.git_cache import GitCache, SourceError, url_key
from tfo.activities.git_commands import GitResult, run_git

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "tfo test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "tfo test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True)
    return done.stdout.strip()


class Remote:
    """A bare repository at `url` and a work clone that commits and pushes to it."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "remote.git"
        self.work = root / "work"
        git("init", "--quiet", "--bare", "--initial-branch=main", str(self.bare))
        git("init", "--quiet", "--initial-branch=main", str(self.work))
        git("remote", "add", "origin", str(self.bare), cwd=self.work)
        self.url = self.bare.as_uri()

    def commit(self, files: Mapping[str, str], message: str = "change") -> str:
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "--all", cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def push(self, *refs: str) -> None:
        git("push", "--quiet", "--force", "origin", *(refs or ("main",)), cwd=self.work)


class CountingRunner:
    """The real runner, recording each git subcommand it ran."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, args: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> GitResult:
        self.calls.append(next(a for a in args if not a.startswith("-") and "/" not in a))
        return await run_git(args, timeout=timeout, env=env)


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path)


def files_of(tree: Path) -> dict[str, str]:
    return {
        str(p.relative_to(tree)): (f"-> {os.readlink(p)}" if p.is_symlink() else p.read_text())
        for p in sorted(tree.rglob("*"))
        if (p.is_symlink() or p.is_file()) and ".git" not in p.relative_to(tree).parts
    }


def one_line(error: pytest.ExceptionInfo[SourceError]) -> str:
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    return message


async def test_resolve_branch_annotated_and_lightweight_tags(remote: Remote) -> None:
    first = remote.commit({"main.tf": "# one\n"})
    git("tag", "--annotate", "v1", "-m", "release 1", cwd=remote.work)
    git("tag", "light", cwd=remote.work)
    second = remote.commit({"main.tf": "# two\n"})
    # A branch whose name ends in "main": ls-remote's tail matching must not pick it.
    git("branch", "feature/main", first, cwd=remote.work)
    remote.push("main", "feature/main", "v1", "light")
    cache = GitCache(Path(remote.bare.parent / "cache"))

    assert await cache.resolve(remote.url, "main") == second
    assert await cache.resolve(remote.url, "refs/heads/main") == second
    assert await cache.resolve(remote.url, "feature/main") == first
    tag_object = git("rev-parse", "v1", cwd=remote.work)
    assert tag_object != first
    assert await cache.resolve(remote.url, "v1") == first  # peeled to its commit
    assert await cache.resolve(remote.url, "refs/tags/v1") == first
    assert await cache.resolve(remote.url, "light") == first
    assert await cache.resolve(str(remote.bare), "main") == second  # a plain absolute path


async def test_ref_naming_a_branch_and_a_tag_is_refused(remote: Remote, tmp_path: Path) -> None:
    commit = remote.commit({"main.tf": ""})
    git("tag", "main", cwd=remote.work)
    remote.push("refs/heads/main", "refs/tags/main")
    cache = GitCache(tmp_path / "cache")
    with pytest.raises(SourceError) as error:
        await cache.resolve(remote.url, "main")
    assert "'main' is both a branch and a tag; write refs/heads/main or refs/tags/main" in one_line(error)
    assert await cache.resolve(remote.url, "refs/tags/main") == commit


async def test_checkout_holds_exactly_the_commits_files(remote: Remote, tmp_path: Path) -> None:
    remote.commit(
        {
            "envs/prod/main.tf": 'resource "null_resource" "a" {}\n',
            "modules/net/variables.tf": 'variable "cidr" {}\n',
            "scripts/run.sh": "#!/bin/sh\necho hi\n",
            # `git archive` would drop this file; a checkout must not.
            ".gitattributes": "scripts/* export-ignore\n*.tf text eol=lf\n",
        }
    )
    (remote.work / "scripts/run.sh").chmod(0o755)
    (remote.work / "envs/prod/shared.tf").symlink_to("../../modules/net/variables.tf")
    git("add", "--all", cwd=remote.work)
    git("commit", "--quiet", "-m", "exec bit and symlink", cwd=remote.work)
    remote.push()
    cache = GitCache(tmp_path / "cache")
    commit = await cache.resolve(remote.url, "main")

    tree = await cache.checkout(remote.url, commit)

    listed = git("ls-tree", "-r", "--name-only", commit, cwd=remote.work).splitlines()
    assert sorted(files_of(tree)) == sorted(listed)
    assert files_of(tree) == files_of(remote.work)
    assert os.access(tree / "scripts/run.sh", os.X_OK)
    assert (tree / "envs/prod/shared.tf").is_symlink()
    assert not (tree / ".git").exists()
    # terraform writes .terraform/ into the workspace dir: an ordinary writable directory.
    (tree / "envs/prod/.terraform").mkdir()
    (tree / "envs/prod/.terraform/x").write_text("ok")
    assert list((tmp_path / "cache/tmp").iterdir()) == []


async def test_new_commit_is_resolved_and_checked_out_alongside_the_old(remote: Remote, tmp_path: Path) -> None:
    remote.commit({"main.tf": "# one\n"})
    remote.push()
    runner = CountingRunner()
    cache = GitCache(tmp_path / "cache", runner=runner)
    old = await cache.resolve(remote.url, "main")
    old_tree = await cache.checkout(remote.url, old)

    new_commit = remote.commit({"main.tf": "# two\n", "extra.tf": "# new\n"})
    remote.push()
    runner.calls.clear()
    new = await cache.resolve(remote.url, "main")
    new_tree = await cache.checkout(remote.url, new)

    assert new == new_commit != old
    assert new_tree != old_tree
    assert files_of(old_tree) == {"main.tf": "# one\n"}
    assert files_of(new_tree) == {"main.tf": "# two\n", "extra.tf": "# new\n"}
    assert "fetch" in runner.calls and "clone" not in runner.calls  # the mirror was reused
    assert len(list((tmp_path / "cache/mirrors").iterdir())) == 1


async def test_repeat_checkout_is_local_and_quick(remote: Remote, tmp_path: Path) -> None:
    commit = remote.commit({"main.tf": ""})
    remote.push()
    tree = await GitCache(tmp_path / "cache").checkout(remote.url, commit)

    runner = CountingRunner()
    again = GitCache(tmp_path / "cache", runner=runner)  # as another worker process would
    started = time.monotonic()
    assert await again.checkout(remote.url, commit.upper()) == tree
    assert time.monotonic() - started < 0.5
    assert runner.calls == []  # no git at all, so no network


async def test_eight_tasks_checking_out_one_commit_share_one_tree(remote: Remote, tmp_path: Path) -> None:
    commit = remote.commit({"main.tf": "# shared\n"})
    remote.push()
    runner = CountingRunner()
    cache = GitCache(tmp_path / "cache", runner=runner)

    trees = await asyncio.gather(*(cache.checkout(remote.url, commit) for _ in range(8)))

    assert len(set(trees)) == 1
    assert files_of(trees[0]) == {"main.tf": "# shared\n"}
    assert runner.calls.count("clone") == runner.calls.count("read-tree") == 1
    assert len(list((tmp_path / "cache/trees").iterdir())) == 1
    assert list((tmp_path / "cache/tmp").iterdir()) == []


CHECKOUT_SCRIPT = """
import asyncio, sys, time
from pathlib import Path
from tfo.activities.git_cache import GitCache
from tfo.activities.git_commands import run_git

root, url, commit, go = sys.argv[1:]
clones = []

async def counting(args, **kw):
    if args[0] == "clone":
        clones.append(args)
    return await run_git(args, **kw)

while not Path(go).exists():
    time.sleep(0.002)

async def main():
    cache = GitCache(Path(root), runner=counting)
    return await asyncio.gather(*(cache.checkout(url, commit) for _ in range(4)))

print(*sorted(set(asyncio.run(main()))), len(clones))
"""


def test_two_processes_checking_out_one_commit_share_one_tree(remote: Remote, tmp_path: Path) -> None:
    commit = remote.commit({"envs/prod/main.tf": "# both\n"})
    remote.push()
    root, go = tmp_path / "cache", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHECKOUT_SCRIPT, str(root), remote.url, commit, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    time.sleep(0.5)  # both interpreters up and waiting, so their checkouts overlap
    go.touch()
    outputs = [p.communicate(timeout=60) for p in procs]

    assert [p.returncode for p in procs] == [0, 0], outputs
    paths, clones = zip(*(out.split() for out, _ in outputs), strict=True)
    assert set(paths) == {str(root / "trees" / os.listdir(root / "trees")[0])}
    assert sorted(clones) == ["0", "1"]  # one process cloned; the other waited and reused it
    assert len(os.listdir(root / "trees")) == 1
    assert len(os.listdir(root / "mirrors")) == 1
    assert os.listdir(root / "tmp") == []


async def test_unknown_ref_and_commit(remote: Remote, tmp_path: Path) -> None:
    remote.commit({"main.tf": ""})
    remote.push()
    cache = GitCache(tmp_path / "cache")

    with pytest.raises(SourceError) as error:
        await cache.resolve(remote.url, "no-such-branch")
    assert one_line(error) == f"git source {remote.url} has no branch or tag 'no-such-branch'"
    assert error.value.missing

    missing = "0" * 40
    with pytest.raises(SourceError) as error:
        await cache.checkout(remote.url, missing)
    assert one_line(error) == f"git source {remote.url} has no commit {missing}"
    assert error.value.missing
    assert os.listdir(tmp_path / "cache/trees") == []
    assert os.listdir(tmp_path / "cache/tmp") == []

    with pytest.raises(SourceError, match="'HEAD~1' is not a full commit id"):
        await cache.checkout(remote.url, "HEAD~1")


async def test_unreadable_urls_fail_fast_in_one_line_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for proxy in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)  # the refused connection must be git's own
    cache = GitCache(tmp_path / "cache", timeout=timedelta(seconds=20))
    url = "https://user:secret@127.0.0.1:9/x.git"  # nothing listens on port 9: refused at once
    started = time.monotonic()
    with pytest.raises(SourceError) as error:
        await cache.resolve(url, "main")
    message = one_line(error)
    assert message.startswith("cannot read git source https://127.0.0.1:9/x.git (ref 'main'): ")
    assert "connect" in message.lower()  # git's own reason, its last stderr line
    assert "secret" not in message and "user" not in message
    assert not error.value.missing

    with pytest.raises(SourceError) as error:
        await cache.checkout(url, "a" * 40)
    message = one_line(error)
    assert message.startswith("cannot read git source https://127.0.0.1:9/x.git (commit aaaaaaaaaaaa): ")
    assert "secret" not in message
    assert time.monotonic() - started < 10

    gone = (tmp_path / "nowhere.git").as_uri()
    with pytest.raises(SourceError) as error:
        await cache.resolve(gone, "main")
    assert one_line(error).endswith("nowhere.git' does not appear to be a git repository")
    assert os.listdir(tmp_path / "cache/mirrors") == os.listdir(tmp_path / "cache/tmp") == []


async def test_a_silent_server_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for proxy in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    with socket.socket() as server:  # accepts connections (the kernel's backlog), never answers
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/x.git"
        cache = GitCache(tmp_path / "cache", timeout=timedelta(seconds=1))
        started = time.monotonic()
        with pytest.raises(SourceError) as error:
            await cache.resolve(url, "main")
    assert one_line(error) == f"cannot read git source {url} (ref 'main'): git ls-remote timed out after 1s"
    assert time.monotonic() - started < 5


async def test_leftovers_of_a_killed_checkout_are_cleared(remote: Remote, tmp_path: Path) -> None:
    commit = remote.commit({"main.tf": "# ok\n"})
    remote.push()
    cache = GitCache(tmp_path / "cache")
    half_clone = tmp_path / "cache/tmp" / f"{url_key(remote.url)}-mirror"
    (half_clone / "objects").mkdir(parents=True)  # as a worker killed mid-clone leaves it
    tree = await cache.checkout(remote.url, commit)
    assert files_of(tree) == {"main.tf": "# ok\n"}
    assert os.listdir(tmp_path / "cache/tmp") == []


PRUNE_SCRIPT = "import sys; from pathlib import Path; from tfo.activities.git_cache import GitCache\n" \
    "print(len(GitCache(Path(sys.argv[1]), keep=1).prune()))"


async def test_prune_keeps_the_most_recent_and_never_a_tree_in_use(remote: Remote, tmp_path: Path) -> None:
    commits = [remote.commit({"main.tf": f"# {i}\n"}) for i in range(4)]
    remote.push()
    cache = GitCache(tmp_path / "cache", keep=2)
    trees = [cache.tree_path(remote.url, c) for c in commits]

    async with cache.use(remote.url, commits[0]) as held:
        assert held == trees[0]
        for commit in commits[1:]:
            await cache.checkout(remote.url, commit)  # each new tree prunes the cache
        assert [t.exists() for t in trees] == [True, False, True, True]
        # Another process pruning hard cannot take the held tree either.
        out = subprocess.run(
            [sys.executable, "-c", PRUNE_SCRIPT, str(tmp_path / "cache")], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "1"  # trees[2]: older than trees[3]
        assert [t.exists() for t in trees] == [True, False, False, True]
        assert files_of(held) == {"main.tf": "# 0\n"}

    # Released, and a repeat use marks trees[3] recent again: trees[0] is the oldest now.
    async with cache.use(remote.url, commits[3]):
        pass
    assert cache.prune() == []  # two trees, keep=2
    async with cache.use(remote.url, commits[1]) as again:  # pruned earlier: made anew
        assert files_of(again) == {"main.tf": "# 1\n"}
    assert [t.exists() for t in trees] == [False, True, False, True]
    assert len(os.listdir(tmp_path / "cache/trees")) == 2
