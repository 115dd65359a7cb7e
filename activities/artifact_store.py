"""Saved plan files, kept where any worker can fetch them: a directory or an S3 bucket.

`plan -out` writes a plan; `put` stores it under `runs/RUN_ID/WORKSPACE.tfplan`; after a
human approves, `fetch` brings back exactly those bytes (SHA-256 and size checked) for
`apply`. Workers need no shared disk when the store is S3 or S3-compatible.

S3 credentials and region come from the standard AWS chain only (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_DEFAULT_REGION, ~/.aws/...), never from a payload;
boto3 also honours AWS_ENDPOINT_URL_S3 when infra.yaml names no `endpoint_url`.
Object metadata holds `sha256`, `commit` and `workspace`, nothing else: a plan's variable
values stay inside the (private) object. Server-side encryption is requested only when
`TFO_ARTIFACTS_SSE` is set: `AES256`, or `aws:kms` with the key in `TFO_ARTIFACTS_KMS_KEY_ID`
(the bucket's default key when that is unset).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Protocol

from tfo.config.artifact_models import ArtifactRef, ArtifactsConfig, check_key_part
from tfo.config.errors import TfoError

PLAN_SUFFIX = ".tfplan"
_CHUNK = 1 << 20


class ArtifactStoreError(TfoError):
    """The store could not be reached or used: credentials, bucket, endpoint, disk."""


class MissingArtifact(TfoError):
    """No object where the reference points: deleted, expired or never stored."""


class StalePlanArtifact(TfoError):
    """The stored bytes differ from the reference: the plan must not be applied."""


class ArtifactStore(Protocol):
    async def put(self, local: Path, *, run_id: str, workspace: str, commit: str, sha256: str) -> ArtifactRef: ...

    async def fetch(self, ref: ArtifactRef, dest: Path) -> Path: ...

    async def delete_run(self, run_id: str) -> int: ...

    async def put_blob(self, name: str, data: bytes) -> str: ...

    async def get_blob(self, name: str) -> bytes: ...


def one_line(text: str) -> str:
    return " ".join(text.split())


def new_ref(local: Path, url: str, *, run_id: str, workspace: str, commit: str, sha256: str) -> ArtifactRef:
    """Check that `local` still hashes to `sha256`: it must be the plan a human will review."""
    actual = hashlib.sha256()
    with local.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            actual.update(chunk)
    if actual.hexdigest() != sha256:
        raise StalePlanArtifact(
            f"{local} changed after it was planned: sha256 {actual.hexdigest()[:12]} != {sha256[:12]}"
        )
    return ArtifactRef(
        url=url, sha256=sha256, size=local.stat().st_size, commit=commit, workspace=workspace, run_id=run_id
    )


def receive(source: IO[bytes], ref: ArtifactRef, dest: Path) -> Path:
    """Copy into a 0600 temp file beside `dest`, verify, then rename into place.

    Reads at most one byte past the expected size, so an oversized object cannot fill the disk.
    """
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            while size <= ref.size and (chunk := source.read(min(_CHUNK, ref.size + 1 - size))):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        if size != ref.size or digest.hexdigest() != ref.sha256:
            got = f"{size} bytes" if size != ref.size else f"sha256 {digest.hexdigest()[:12]}"
            raise StalePlanArtifact(
                f"plan artifact {ref.url} does not match its reference ({got}, expected "
                f"{ref.size} bytes, sha256 {ref.sha256[:12]}): refusing to apply it"
            )
        tmp.chmod(0o600)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


class FileStore:
    """Plans under `root/runs/RUN_ID/WORKSPACE.tfplan`, each with a JSON sidecar; 0600 files, 0700 dirs."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()

    def _plan_path(self, run_id: str, workspace: str) -> Path:
        return self.root / "runs" / run_id / f"{workspace}{PLAN_SUFFIX}"

    async def put(self, local: Path, *, run_id: str, workspace: str, commit: str, sha256: str) -> ArtifactRef:
        return await asyncio.to_thread(self._put, local, run_id, workspace, commit, sha256)

    def _put(self, local: Path, run_id: str, workspace: str, commit: str, sha256: str) -> ArtifactRef:
        check_key_part("run ID", run_id)
        target = self._plan_path(run_id, check_key_part("workspace name", workspace))
        ref = new_ref(local, target.as_uri(), run_id=run_id, workspace=workspace, commit=commit, sha256=sha256)
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            for path in (self.root / "runs", target.parent):  # mkdir(parents=True) gives 0700 to the last only
                path.mkdir(mode=0o700, exist_ok=True)
            meta = {"sha256": sha256, "commit": commit, "workspace": workspace}
            self._write(target.with_name(target.name + ".json"), json.dumps(meta).encode())
            self._write(target, local.read_bytes())
        except OSError as exc:
            raise ArtifactStoreError(f"artifact store {self.root}: cannot store {target.name}: {exc.strerror}") from exc
        return ref

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def fetch(self, ref: ArtifactRef, dest: Path) -> Path:
        return await asyncio.to_thread(self._fetch, ref, dest)

    def _fetch(self, ref: ArtifactRef, dest: Path) -> Path:
        source = self._plan_path(ref.run_id, ref.workspace)
        if ref.url != source.as_uri():  # never read a path a payload names
            raise ArtifactStoreError(f"artifact {ref.url} is not in this store ({self.root.as_uri()})")
        try:
            handle = source.open("rb")
        except FileNotFoundError:
            raise MissingArtifact(f"plan artifact {ref.url} does not exist") from None
        with handle:
            return receive(handle, ref, dest)

    async def delete_run(self, run_id: str) -> int:
        return await asyncio.to_thread(self._delete_run, check_key_part("run ID", run_id))

    def _delete_run(self, run_id: str) -> int:
        run_dir = self.root / "runs" / run_id
        if not run_dir.is_dir():
            return 0
        try:
            plans = [path for path in run_dir.iterdir() if path.name.endswith(PLAN_SUFFIX)]
            for path in run_dir.iterdir():
                path.unlink()
            run_dir.rmdir()
        except OSError as exc:
            raise ArtifactStoreError(f"artifact store {self.root}: cannot delete run {run_id}: {exc.strerror}") from exc
        return len(plans)

    async def put_blob(self, name: str, data: bytes) -> str:
        """Store bytes under `blobs/NAME`; return where (for messages)."""
        return await asyncio.to_thread(self._put_blob, check_key_part("blob name", name), data)

    def _put_blob(self, name: str, data: bytes) -> str:
        target = self.root / "blobs" / name
        try:
            for path in (self.root, target.parent):
                path.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not target.exists():  # named by content: an existing one is the same
                self._write(target, data)
        except OSError as exc:
            raise ArtifactStoreError(f"artifact store {self.root}: cannot store {name}: {exc.strerror}") from exc
        return str(target)

    async def get_blob(self, name: str) -> bytes:
        target = self.root / "blobs" / check_key_part("blob name", name)
        try:
            return await asyncio.to_thread(target.read_bytes)
        except FileNotFoundError:
            raise MissingArtifact(f"{target} does not exist on this worker") from None
        except OSError as exc:
            raise ArtifactStoreError(f"artifact store {self.root}: cannot read {name}: {exc.strerror}") from exc


def open_store(config: ArtifactsConfig | None, *, state_dir: Path) -> ArtifactStore:
    """The store infra.yaml's `artifacts:` names; a file store under the state dir by default."""
    if config is None:
        return FileStore(state_dir / "artifacts")
    if config.scheme == "file":
        return FileStore(Path(config.path))
    from tfo.activities.artifact_s3 import S3Store  # boto3 only where S3 is used

    return S3Store(config.bucket, config.prefix, config.endpoint_url)
