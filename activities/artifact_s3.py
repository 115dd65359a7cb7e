"""The artifact store on S3 or an S3-compatible server (see artifact_store)."""

from __future__ import annotations

import asyncio
import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tfo.activities.artifact_store import (
    PLAN_SUFFIX,
    ArtifactStoreError,
    MissingArtifact,
    new_ref,
    one_line,
    receive,
)
from tfo.config.artifact_models import ArtifactRef, check_key_part
from tfo.config.errors import TfoError


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
            new_ref, local, url, run_id=run_id, workspace=workspace, commit=commit, sha256=sha256
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
                return receive(body, ref, dest)

        result: Path = await self._call(download, missing=f"plan artifact {ref.url}")
        return result

    async def put_blob(self, name: str, data: bytes) -> str:
        key = f"{self.prefix}/blobs/{check_key_part('blob name', name)}".lstrip("/")

        def upload() -> None:
            self._client().put_object(Bucket=self.bucket, Key=key, Body=data, **self._extra_args)

        await self._call(upload)
        return f"s3://{self.bucket}/{key}"

    async def get_blob(self, name: str) -> bytes:
        key = f"{self.prefix}/blobs/{check_key_part('blob name', name)}".lstrip("/")

        def download() -> bytes:
            body = self._client().get_object(Bucket=self.bucket, Key=key)["Body"]
            with body:
                data: bytes = body.read()
                return data

        result: bytes = await self._call(download, missing=f"s3://{self.bucket}/{key}")
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
                            one_line(f"{self._where()}: cannot delete {first.get('Key')}: {first.get('Code')}")
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
            return MissingArtifact(f"{missing} does not exist")
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
    return ArtifactStoreError(one_line(f"artifact store {where}: {reason}"))
