"""The plan artifact store, on disk and on a real S3 API (moto_server on 127.0.0.1).

Every behaviour runs against both `FileStore` and `S3Store`: what `apply` gets back is
exactly what `plan -out` wrote, or a one-line refusal.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.s3_server import S3_TEST_BUCKET, s3_endpoint  # noqa: F401
from tfo.activities.artifact_s3 import S3Store
from tfo.activities.artifact_store import (
    ArtifactStore,
    ArtifactStoreError,
    FileStore,
    MissingArtifact,
    StalePlanArtifact,
    open_store,
)
from tfo.config.artifact_models import ArtifactRef, ArtifactsConfig

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class StoreUnderTest:
    """A store plus direct access to what it keeps, around the store's own API."""

    store: ArtifactStore
    overwrite: Callable[[ArtifactRef, bytes], object]
    metadata: Callable[[ArtifactRef], dict[str, str]]
    objects: Callable[[], list[str]]


def _file_store(root: Path) -> StoreUnderTest:
    store = FileStore(root)

    def path(ref: ArtifactRef) -> Path:
        return root / "runs" / ref.run_id / f"{ref.workspace}.tfplan"

    return StoreUnderTest(
        store=store,
        overwrite=lambda ref, data: path(ref).write_bytes(data),
        metadata=lambda ref: json.loads(path(ref).with_name(path(ref).name + ".json").read_text()),
        objects=lambda: sorted(str(p.relative_to(root)) for p in root.rglob("*.tfplan")),
    )


@functools.cache
def _s3_client(endpoint: str) -> Any:
    """The tests' own view of the bucket: a boto3 client takes ~0.3 s to build."""
    import boto3

    return boto3.session.Session().client("s3", endpoint_url=endpoint)


def _s3_store(endpoint: str) -> StoreUnderTest:
    prefix = f"tests/{uuid.uuid4().hex[:8]}"
    store = S3Store(S3_TEST_BUCKET, prefix, endpoint)
    s3 = _s3_client(endpoint)

    def objects() -> list[str]:
        listed = s3.list_objects_v2(Bucket=S3_TEST_BUCKET, Prefix=f"{prefix}/")
        return sorted(item["Key"].removeprefix(f"{prefix}/") for item in listed.get("Contents", []))

    return StoreUnderTest(
        store=store,
        overwrite=lambda ref, data: s3.put_object(
            Bucket=S3_TEST_BUCKET, Key=store.key(ref.run_id, ref.workspace), Body=data
        ),
        metadata=lambda ref: s3.head_object(Bucket=S3_TEST_BUCKET, Key=store.key(ref.run_id, ref.workspace))[
            "Metadata"
        ],
        objects=objects,
    )


@pytest.fixture(params=["file", "s3"])
def under_test(request: pytest.FixtureRequest, tmp_path: Path) -> StoreUnderTest:
    if request.param == "file":
        return _file_store(tmp_path / "artifacts")
    return _s3_store(request.getfixturevalue("s3_endpoint"))


def _plan(tmp_path: Path, name: str = "plan.tfplan", size: int = 1 << 20) -> tuple[Path, str]:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


async def _put(under_test: StoreUnderTest, tmp_path: Path, run_id: str, workspace: str) -> ArtifactRef:
    local, sha = _plan(tmp_path, f"{run_id}-{workspace}.tfplan", size=1024)
    return await under_test.store.put(local, run_id=run_id, workspace=workspace, commit=COMMIT, sha256=sha)


async def test_round_trip_returns_the_exact_bytes(under_test: StoreUnderTest, tmp_path: Path) -> None:
    local, sha = _plan(tmp_path)
    ref = await under_test.store.put(local, run_id="tfo-plan-demo-1", workspace="network", commit=COMMIT, sha256=sha)
    assert (ref.sha256, ref.size, ref.commit, ref.workspace, ref.run_id) == (
        sha,
        1 << 20,
        COMMIT,
        "network",
        "tfo-plan-demo-1",
    )
    assert ref.url.endswith("/runs/tfo-plan-demo-1/network.tfplan")
    assert ArtifactRef.model_validate_json(ref.model_dump_json()) == ref

    dest_dir = tmp_path / "apply"
    dest = await under_test.store.fetch(ref, dest_dir / "plan.tfplan")
    assert dest.read_bytes() == local.read_bytes()
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert sorted(p.name for p in dest_dir.iterdir()) == ["plan.tfplan"]  # no temp file left behind


async def test_file_store_keeps_files_private(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    local, sha = _plan(tmp_path, size=10)
    await FileStore(root).put(local, run_id="r1", workspace="ws", commit="", sha256=sha)
    for path in [root, *root.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


@pytest.mark.parametrize("tamper", ["same size", "longer", "shorter"])
async def test_a_tampered_object_is_refused(under_test: StoreUnderTest, tmp_path: Path, tamper: str) -> None:
    ref = await _put(under_test, tmp_path, "r1", "ws")
    data = {"same size": os.urandom(ref.size), "longer": os.urandom(ref.size + 1), "shorter": b"x"}[tamper]
    under_test.overwrite(ref, data)
    dest = tmp_path / "apply" / "plan.tfplan"
    with pytest.raises(StalePlanArtifact) as refused:
        await under_test.store.fetch(ref, dest)
    assert "\n" not in str(refused.value)
    assert ref.url in str(refused.value)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


async def test_put_refuses_a_plan_that_changed_since_it_was_hashed(under_test: StoreUnderTest, tmp_path: Path) -> None:
    local, _ = _plan(tmp_path, size=10)
    with pytest.raises(StalePlanArtifact):
        await under_test.store.put(local, run_id="r1", workspace="ws", commit="", sha256="0" * 64)
    assert under_test.objects() == []


async def test_a_missing_object_is_reported(under_test: StoreUnderTest, tmp_path: Path) -> None:
    ref = await _put(under_test, tmp_path, "r1", "ws")
    await under_test.store.delete_run("r1")
    with pytest.raises(MissingArtifact, match="does not exist"):
        await under_test.store.fetch(ref, tmp_path / "plan.tfplan")


async def test_a_reference_into_another_store_is_refused(under_test: StoreUnderTest, tmp_path: Path) -> None:
    ref = await _put(under_test, tmp_path, "r1", "ws")
    foreign = ref.model_copy(update={"url": (tmp_path / "r1-ws.tfplan").as_uri()})
    with pytest.raises(ArtifactStoreError, match="not in this store"):
        await under_test.store.fetch(foreign, tmp_path / "plan.tfplan")


async def test_delete_run_deletes_exactly_that_run(under_test: StoreUnderTest, tmp_path: Path) -> None:
    keep = [await _put(under_test, tmp_path, "run-10", "a"), await _put(under_test, tmp_path, "run-2", "a")]
    for workspace in ("a", "b", "c"):
        await _put(under_test, tmp_path, "run-1", workspace)
    assert await under_test.store.delete_run("run-1") == 3
    assert [name for name in under_test.objects() if name.endswith(".tfplan")] == [
        "runs/run-10/a.tfplan",
        "runs/run-2/a.tfplan",
    ]
    for ref in keep:
        await under_test.store.fetch(ref, tmp_path / "out" / f"{ref.run_id}.tfplan")
    assert await under_test.store.delete_run("run-1") == 0


async def test_metadata_holds_checksum_commit_and_workspace_only(under_test: StoreUnderTest, tmp_path: Path) -> None:
    ref = await _put(under_test, tmp_path, "r1", "ws")
    assert under_test.metadata(ref) == {"sha256": ref.sha256, "commit": COMMIT, "workspace": "ws"}


@pytest.mark.parametrize("name", ["../up", "a/b", ".hidden", ""])
async def test_unsafe_names_never_reach_a_key(under_test: StoreUnderTest, tmp_path: Path, name: str) -> None:
    local, sha = _plan(tmp_path, size=10)
    with pytest.raises(ValueError, match="unsafe"):
        await under_test.store.put(local, run_id="r1", workspace=name, commit="", sha256=sha)
    with pytest.raises(ValueError, match="unsafe"):
        await under_test.store.delete_run(name)
    assert under_test.objects() == []


async def test_server_side_encryption_is_requested_when_configured(
    s3_endpoint: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TFO_ARTIFACTS_SSE", "AES256")
    store = S3Store(S3_TEST_BUCKET, f"sse/{uuid.uuid4().hex[:8]}", s3_endpoint)
    local, sha = _plan(tmp_path, size=10)
    ref = await store.put(local, run_id="r1", workspace="ws", commit="", sha256=sha)
    head = _s3_client(s3_endpoint).head_object(Bucket=S3_TEST_BUCKET, Key=store.key("r1", "ws"))
    assert head["ServerSideEncryption"] == "AES256"
    assert await store.fetch(ref, tmp_path / "out.tfplan")

    monkeypatch.setenv("TFO_ARTIFACTS_SSE", "rot13")
    with pytest.raises(ArtifactStoreError, match="TFO_ARTIFACTS_SSE"):
        S3Store(S3_TEST_BUCKET)


async def test_a_missing_bucket_is_named(s3_endpoint: str, tmp_path: Path) -> None:  # noqa: F811
    local, sha = _plan(tmp_path, size=10)
    with pytest.raises(ArtifactStoreError) as failed:
        await S3Store("no-such-bucket", "p", s3_endpoint).put(local, run_id="r1", workspace="ws", commit="", sha256=sha)
    assert str(failed.value) == f"artifact store s3://no-such-bucket/p at {s3_endpoint}: the bucket does not exist"


async def test_missing_credentials_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookups off EC2
    for name in ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    local, sha = _plan(tmp_path, size=10)
    store = S3Store("bucket", endpoint_url=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(ArtifactStoreError, match="no AWS credentials") as failed:
        await store.put(local, run_id="r1", workspace="ws", commit="", sha256=sha)
    assert "\n" not in str(failed.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("endpoint", ["refused", "silent"])
async def test_an_unreachable_endpoint_fails_in_bounded_time(
    endpoint: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-never-printed"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    url = f"http://127.0.0.1:{_closed_port()}" if endpoint == "refused" else request.getfixturevalue("silent_endpoint")
    store = S3Store(
        "plans",
        "tfo",
        url,
        connect_timeout=timedelta(seconds=0.5),
        read_timeout=timedelta(seconds=0.3),
        max_attempts=2,
    )
    local, sha = _plan(tmp_path, size=10)
    ref = ArtifactRef(url=f"s3://plans/{store.key('r1', 'ws')}", sha256=sha, size=10, workspace="ws", run_id="r1")
    for call in (
        lambda: store.put(local, run_id="r1", workspace="ws", commit="", sha256=sha),
        lambda: store.fetch(ref, tmp_path / "out.tfplan"),
        lambda: store.delete_run("r1"),
    ):
        started = time.monotonic()
        with pytest.raises(ArtifactStoreError) as failed:
            await call()
        assert time.monotonic() - started < 10
        message = str(failed.value)
        assert "\n" not in message and secret not in message
        assert message.startswith(f"artifact store s3://plans/tfo at {url}: "), message


def test_open_store_picks_the_store_from_the_config(tmp_path: Path) -> None:
    default = open_store(None, state_dir=tmp_path)
    assert isinstance(default, FileStore) and default.root == tmp_path / "artifacts"
    on_disk = open_store(ArtifactsConfig.model_validate("file:///var/lib/tfo/plans"), state_dir=tmp_path)
    assert isinstance(on_disk, FileStore) and on_disk.root == Path("/var/lib/tfo/plans")
    config = ArtifactsConfig.model_validate({"url": "s3://plans/tfo/prod/", "endpoint_url": "http://minio:9000"})
    on_s3 = open_store(config, state_dir=tmp_path)
    assert isinstance(on_s3, S3Store)
    assert (on_s3.bucket, on_s3.prefix, on_s3.endpoint_url) == ("plans", "tfo/prod", "http://minio:9000")
    assert on_s3.key("r1", "ws") == "tfo/prod/runs/r1/ws.tfplan"
