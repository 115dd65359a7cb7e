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
import threading
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

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


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _new_ref(local: Path, url: str, *, run_id: str, workspace: str, commit: str, sha256: str) -> ArtifactRef:
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


def _receive(source: IO[bytes], ref: ArtifactRef, dest: Path) -> Path:
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
        ref = _new_ref(local, target.as_uri(), run_id=run_id, workspace=workspace, commit=commit, sha256=sha256)
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
            return _receive(handle, ref, dest)

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


class S3Store:
    """Plans as objects `PREFIX/runs/RUN_ID/WORKSPACE.tfplan` in an S3 or S3-compatible bucket."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        *,
        connect_timeout: timedelta = timedelta(seconds=10),
        read_timeout: timedelta = timedelta(seconds=60),
        max_attempts: int = 5,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self._timeouts = (connect_timeout.total_seconds(), read_timeout.total_seconds(), max_attempts)
        self._extra_args = _encryption_args()
        self._client_lock = threading.Lock()
        self._s3: Any = None

    def key(self, run_id: str, workspace: str) -> str:
        return f"{self._run_prefix(run_id)}{workspace}{PLAN_SUFFIX}"

    def _run_prefix(self, run_id: str) -> str:
        return f"{self.prefix}/runs/{run_id}/" if self.prefix else f"runs/{run_id}/"

    def _where(self) -> str:
        endpoint = self.endpoint_url or (self._s3.meta.endpoint_url if self._s3 is not None else None)
        place = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        return f"{place} at {_redact(endpoint)}" if endpoint else place

    def _client(self) -> Any:
        with self._client_lock:
            if self._s3 is None:
                import boto3  # slow to import: only workers that use S3 pay for it
                from botocore.config import Config

                connect, read, attempts = self._timeouts
                config = Config(
                    connect_timeout=connect,
                    read_timeout=read,
                    retries={"max_attempts": attempts, "mode": "standard"},
                    # MinIO, Ceph and other S3-compatible servers may reject the default CRC checksums
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
                self._s3 = boto3.session.Session().client("s3", endpoint_url=self.endpoint_url, config=config)
            return self._s3

    async def _call(self, fn: Any, *args: Any, missing: str | None = None) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except TfoError:
            raise
        except Exception as exc:
            raise _translate(exc, self._where(), missing=missing) from exc

    async def put(self, local: Path, *, run_id: str, workspace: str, commit: str, sha256: str) -> ArtifactRef:
        check_key_part("run ID", run_id)
        key = self.key(run_id, check_key_part("workspace name", workspace))
        url = f"s3://{self.bucket}/{key}"
        ref = await asyncio.to_thread(
            _new_ref, local, url, run_id=run_id, workspace=workspace, commit=commit, sha256=sha256
        )

        def upload() -> None:
            with local.open("rb") as body:
                self._client().put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentLength=ref.size,
                    ContentType="application/octet-stream",
                    Metadata={"sha256": sha256, "commit": commit, "workspace": workspace},
                    **self._extra_args,
                )

        await self._call(upload)
        return ref

    async def fetch(self, ref: ArtifactRef, dest: Path) -> Path:
        key = self.key(ref.run_id, ref.workspace)
        if ref.url != f"s3://{self.bucket}/{key}":
            raise ArtifactStoreError(f"artifact {ref.url} is not in this store (s3://{self.bucket}/{self.prefix})")

        def download() -> Path:
            body = self._client().get_object(Bucket=self.bucket, Key=key)["Body"]
            with body:
                return _receive(body, ref, dest)

        result: Path = await self._call(download, missing=ref.url)
        return result

    async def delete_run(self, run_id: str) -> int:
        prefix = self._run_prefix(check_key_part("run ID", run_id))

        def delete() -> int:
            s3, count = self._client(), 0
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:  # a page holds at most 1000 keys, DeleteObjects' limit
                    answer = s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                    if answer.get("Errors"):
                        first = answer["Errors"][0]
                        raise ArtifactStoreError(
                            _one_line(f"{self._where()}: cannot delete {first.get('Key')}: {first.get('Code')}")
                        )
                    count += len(keys)
            return count

        result: int = await self._call(delete)
        return result


def _encryption_args() -> dict[str, str]:
    sse = os.environ.get("TFO_ARTIFACTS_SSE", "").strip()
    if not sse:
        return {}
    if sse not in ("AES256", "aws:kms"):
        raise ArtifactStoreError(f"TFO_ARTIFACTS_SSE must be AES256 or aws:kms, not {sse!r}")
    args = {"ServerSideEncryption": sse}
    kms_key = os.environ.get("TFO_ARTIFACTS_KMS_KEY_ID", "").strip()
    if sse == "aws:kms" and kms_key:
        args["SSEKMSKeyId"] = kms_key
    return args


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.hostname and "@" in parts.netloc:
        return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    return url


def _translate(exc: Exception, where: str, *, missing: str | None) -> TfoError:
    """One line naming the bucket and endpoint; botocore's messages hold no secret key."""
    from botocore import exceptions as boto

    if isinstance(exc, boto.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if missing and code in ("NoSuchKey", "404", "NotFound"):
            return MissingArtifact(f"plan artifact {missing} does not exist")
        reasons = {
            "NoSuchBucket": "the bucket does not exist",
            "AccessDenied": "access denied: check the AWS credentials and the bucket policy",
            "InvalidAccessKeyId": "the AWS access key ID is not known to the server",
            "SignatureDoesNotMatch": "the AWS secret key does not match the access key ID",
        }
        reason = reasons.get(code) or f"{code}: {error.get('Message', exc)}"
    elif isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
        reason = "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
    elif isinstance(exc, boto.EndpointConnectionError | boto.ConnectTimeoutError):
        reason = "cannot connect to the endpoint"
    elif isinstance(exc, boto.ReadTimeoutError | boto.ConnectionClosedError):
        reason = "the endpoint did not answer in time"
    elif isinstance(exc, boto.BotoCoreError | ValueError):
        reason = str(exc)
    elif isinstance(exc, OSError):
        reason = f"local file error: {exc.strerror or exc}"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return ArtifactStoreError(_one_line(f"artifact store {where}: {reason}"))


def open_store(config: ArtifactsConfig | None, *, state_dir: Path) -> ArtifactStore:
    """The store infra.yaml's `artifacts:` names; a file store under the state dir by default."""
    if config is None:
        return FileStore(state_dir / "artifacts")
    if config.scheme == "file":
        return FileStore(Path(config.path))
    return S3Store(config.bucket, config.prefix, config.endpoint_url)
