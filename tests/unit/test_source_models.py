"""infra.yaml's `source:` block (GitSource), the pinned source, and URL display."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tfo.config.source_models import GitSource, PinnedSource, display_url, scrub_credentials

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def error_of(**fields: str) -> str:
    """The one-line message the config loader would show (it drops pydantic's prefix)."""
    with pytest.raises(ValidationError) as info:
        GitSource(**fields)  # type: ignore[arg-type]
    errors = info.value.errors()
    assert len(errors) == 1, errors
    message = str(errors[0]["msg"]).removeprefix("Value error, ")
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "url",
    [
        "https://git.example.com/platform/infra.git",
        "http://git.example.com/platform/infra.git",
        "ssh://git@git.example.com/platform/infra.git",
        "ssh://git@git.example.com:2222/platform/infra.git",
        "git@github.com:platform/infra.git",
        "file:///srv/git/infra.git",
        "/srv/git/infra.git",
        "https://ci-bot@git.example.com/platform/infra.git",  # a user name alone selects a credential
    ],
)
def test_accepted_urls(url: str) -> None:
    source = GitSource(git=url)
    assert source.git == url
    assert (source.ref, source.path) == ("main", "")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://git.example.com/infra.git", "unsupported git URL 'ftp://git.example.com/infra.git': use https://"),
        ("ext::sh", "unsupported git URL 'ext::sh'"),
        ("infra/repo.git", "unsupported git URL 'infra/repo.git'"),
        ("-uhttps://x/y.git", "git URL must not start with '-'"),
        ("https://host/in fra.git", "git URL must not contain whitespace or control characters"),
        ("https:///infra.git", "git URL 'https:///infra.git' has no host"),
        ("https://git.example.com/", "git URL 'https://git.example.com/' has no repository path"),
    ],
)
def test_refused_urls(url: str, message: str) -> None:
    assert error_of(git=url).startswith(message)


def test_empty_url_is_refused() -> None:
    assert error_of(git="") == "String should have at least 1 character"


def test_url_with_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as info:
        GitSource(git="https://deploy:hunter2secret@git.example.com/infra.git")
    assert info.value.errors()[0]["msg"] == (
        "Value error, git URL must not contain a password: workers take credentials from "
        "their environment (credential helper, SSH key)"
    )
    # The config loader shows `msg`; str() is what a log or traceback would show.
    assert "hunter2secret" not in str(info.value)


@pytest.mark.parametrize("ref", ["main", "release/1.2", "v1.0.0", "refs/tags/v1", "HEAD", "feature_x-2"])
def test_accepted_refs(ref: str) -> None:
    assert GitSource(git="/srv/infra.git", ref=ref).ref == ref


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", "ref must not be empty"),
        (" main", "ref ' main' must not contain whitespace or control characters"),
        ("ma\tin", "ref 'ma\\tin' must not contain whitespace or control characters"),
        ("-main", "ref '-main' must not start with '-'"),
        ("main..dev", "ref 'main..dev' must not contain '..'"),
        ("main~1", "ref 'main~1' is not a valid branch or tag name (see git check-ref-format)"),
    ],
)
def test_refused_refs(ref: str, message: str) -> None:
    assert error_of(git="/srv/infra.git", ref=ref) == message


@pytest.mark.parametrize(
    "ref",
    ["a^", "a:b", "a?", "a*", "a[1", "x.lock", "a/x.lock/b", "a/", "/a", "a//b", ".a", "a/.b", "a.", "@", "a@{1}"],
)
def test_refs_git_refuses_are_refused(ref: str) -> None:
    message = error_of(git="/srv/infra.git", ref=ref)
    assert message == f"ref {ref!r} is not a valid branch or tag name (see git check-ref-format)"


@pytest.mark.parametrize(
    ("path", "normal"),
    [("", ""), (".", ""), ("envs/prod", "envs/prod"), ("envs/prod/", "envs/prod"), ("./envs//prod/.", "envs/prod")],
)
def test_paths_are_normalised(path: str, normal: str) -> None:
    assert GitSource(git="/srv/infra.git", path=path).path == normal


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/envs/prod", "path '/envs/prod' must be relative to the repository root"),
        ("../other", "path '../other' must not contain '..'"),
        ("envs/../../x", "path 'envs/../../x' must not contain '..'"),
        ("envs\\prod", "path 'envs\\\\prod' must use '/' as its separator"),
        ("envs/\nprod", "path must not contain control characters"),
    ],
)
def test_refused_paths(path: str, message: str) -> None:
    assert error_of(git="/srv/infra.git", path=path) == message


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError) as info:
        GitSource.model_validate({"git": "/srv/infra.git", "branch": "main"})
    assert [e["type"] for e in info.value.errors()] == ["extra_forbidden"]


def test_pin_and_pinned_source() -> None:
    pinned = GitSource(git="git@github.com:p/infra.git", ref="v1", path="envs/prod/").pin(COMMIT.upper())
    assert pinned == PinnedSource(url="git@github.com:p/infra.git", ref="v1", path="envs/prod", commit=COMMIT)
    assert pinned.short() == "0123456"
    # Payloads from newer code may carry more fields: ignored, not refused.
    assert PinnedSource.model_validate({**pinned.model_dump(), "later": 1}) == pinned
    assert PinnedSource(url="u", ref="r", commit="ab" * 32).commit == "ab" * 32  # sha256 repositories


@pytest.mark.parametrize("commit", ["", "0123456", COMMIT + "0", "g" * 40])
def test_pinned_source_needs_a_full_commit(commit: str) -> None:
    with pytest.raises(ValidationError, match="is not a full hex object id"):
        PinnedSource(url="u", ref="main", commit=commit)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:secret@git.example.com/p/infra.git", "https://git.example.com/p/infra.git"),
        ("https://ghp_token@github.com/p/infra.git", "https://github.com/p/infra.git"),
        ("ssh://git@git.example.com:2222/p/infra.git", "ssh://git.example.com:2222/p/infra.git"),
        ("https://git.example.com/p/infra.git?private_token=abc#x", "https://git.example.com/p/infra.git"),
        ("HTTPS://u:p@git.example.com/x.git", "https://git.example.com/x.git"),
        ("git@github.com:p/infra.git", "github.com:p/infra.git"),
        ("file:///srv/git/infra.git", "file:///srv/git/infra.git"),
        ("/srv/git/infra.git", "/srv/git/infra.git"),
        ("http://u:pw@[::1/x.git", "http://[::1/x.git"),  # unparsable: still scrubbed, no exception
        ("see https://u:pw@h/x.git", "see https://h/x.git"),
    ],
)
def test_display_url(url: str, shown: str) -> None:
    assert display_url(url) == shown


@given(
    user=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=20),
    password=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._~%!$&'()*+,;=", min_size=1, max_size=30),
)
def test_display_url_never_shows_a_password(user: str, password: str) -> None:
    secret = f"SECRET{password}"
    assert secret not in display_url(f"https://{user}:{secret}@git.example.com/p/infra.git")


def test_scrub_credentials_cleans_git_messages() -> None:
    url = "https://user:secret@127.0.0.1:9/x.git"
    text = f"fatal: unable to access '{url}/': Failed to connect; also http://a:b@c/d"
    assert scrub_credentials(text, url) == (
        "fatal: unable to access 'https://127.0.0.1:9/x.git/': Failed to connect; also http://c/d"
    )
