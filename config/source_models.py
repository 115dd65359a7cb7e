"""The `source:` block of infra.yaml, and the pinned source a run carries.

A `GitSource` is what the user wrote (a URL and a branch or tag); a run resolves it
once, at its start, to a `PinnedSource` naming one commit, which every worker then
materialises (see activities.git_cache). Credentials never live here: workers read
them from their own environment (credential helpers, SSH keys), so a URL with a
password is refused, and `display_url` strips any user info before a URL is shown.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

COMMIT_PATTERN = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SCHEME_URL = re.compile(r"(?i)(https?|ssh|file)://")
# git's scp-like syntax: user@host:path, with no slash before the colon.
_SCP_LIKE = re.compile(r"[A-Za-z0-9._~-]+@[A-Za-z0-9.-]+:.+")
# What git check-ref-format refuses in a ref name, beyond "..", whitespace and controls.
_REF_FORBIDDEN = re.compile(r"[~^:?*\[\\]|@\{|//|/\.|\.lock(/|$)|^[./]|[/.]$|^@$")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")


def _has_space_or_control(value: str) -> bool:
    return any(c.isspace() or not c.isprintable() for c in value)


def _check_url(value: str) -> str:
    if _has_space_or_control(value):
        raise ValueError("git URL must not contain whitespace or control characters")
    if value.startswith("-"):
        raise ValueError("git URL must not start with '-'")
    if _SCHEME_URL.match(value):
        parts = urlsplit(value)
        if parts.password is not None:
            # The URL travels in run payloads and history: a secret there would leak.
            raise ValueError(
                "git URL must not contain a password: workers take credentials from their "
                "environment (credential helper, SSH key)"
            )
        if parts.scheme.lower() != "file" and not parts.hostname:
            raise ValueError(f"git URL {display_url(value)!r} has no host")
        if not parts.path.strip("/"):
            raise ValueError(f"git URL {display_url(value)!r} has no repository path")
        return value
    if _SCP_LIKE.fullmatch(value) or value.startswith("/"):
        return value
    raise ValueError(
        f"unsupported git URL {display_url(value)!r}: use https://, http://, ssh://, file://, "
        "user@host:path or an absolute path"
    )


def _check_ref(value: str) -> str:
    if not value:
        raise ValueError("ref must not be empty")
    if _has_space_or_control(value):
        raise ValueError(f"ref {value!r} must not contain whitespace or control characters")
    if value.startswith("-"):
        raise ValueError(f"ref {value!r} must not start with '-'")
    if ".." in value:
        raise ValueError(f"ref {value!r} must not contain '..'")
    if _REF_FORBIDDEN.search(value):
        raise ValueError(f"ref {value!r} is not a valid branch or tag name (see git check-ref-format)")
    return value


def _check_path(value: str) -> str:
    if not value.isprintable():
        raise ValueError("path must not contain control characters")
    if "\\" in value:
        raise ValueError(f"path {value!r} must use '/' as its separator")
    if value.startswith("/"):
        raise ValueError(f"path {value!r} must be relative to the repository root")
    parts = PurePosixPath(value).parts
    if ".." in parts:
        raise ValueError(f"path {value!r} must not contain '..'")
    return "/".join(parts)


GitUrl = Annotated[str, Field(min_length=1), AfterValidator(_check_url)]
GitRef = Annotated[str, AfterValidator(_check_ref)]
SubPath = Annotated[str, AfterValidator(_check_path)]


class GitSource(BaseModel):
    """infra.yaml's `source:`: where workers fetch the workspaces from.

    `path` is a subdirectory of the repository that workspace `dir`s are relative to.
    """

    # hide_input_in_errors: a refused URL may hold a password; errors must not echo it.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    git: GitUrl
    ref: GitRef = "main"
    path: SubPath = ""

    def pin(self, commit: str) -> PinnedSource:
        """This source fixed at `commit` (what `ref` resolved to at the run's start)."""
        return PinnedSource(url=self.git, ref=self.ref, path=self.path, commit=commit)


def _check_commit(value: str) -> str:
    value = value.lower()
    if not COMMIT_PATTERN.fullmatch(value):
        raise ValueError(f"commit {value[:80]!r} is not a full hex object id (40 or 64 digits)")
    return value


class PinnedSource(BaseModel):
    """A source fixed at one commit: the part of a run's payload that says what to check out."""

    model_config = ConfigDict(extra="ignore")

    url: str
    ref: str
    path: str = ""
    commit: Annotated[str, AfterValidator(_check_commit)]

    def short(self) -> str:
        """The abbreviated commit, for logs and summaries."""
        return self.commit[:7]


def display_url(url: str) -> str:
    """`url` without user info (`user:password@`), query or fragment, safe for logs and errors.

    scp-like `user@host:path` loses its user too; anything unparsable is scrubbed of
    `scheme://...@` runs and returned as is.
    """
    if _SCHEME_URL.match(url):
        try:
            parts = urlsplit(url)
            host = parts.netloc.rpartition("@")[2]
            return urlunsplit((parts.scheme, host, parts.path, "", ""))
        except ValueError:
            return _USERINFO.sub(r"\1", url)
    if _SCP_LIKE.fullmatch(url):
        return url.partition("@")[2]
    return _USERINFO.sub(r"\1", url)


def scrub_credentials(text: str, url: str | None = None) -> str:
    """`text` (e.g. git's stderr) with `url`, and any user info in URLs, made displayable."""
    if url:
        text = text.replace(url, display_url(url))
    return _USERINFO.sub(r"\1", text)
