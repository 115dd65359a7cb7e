"""Where saved plan files live: infra.yaml's `artifacts:` and the reference a run keeps.

A plan file travels between workers by reference (`ArtifactRef`), never by value:
it can be megabytes and it holds the plan's variable values.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

# Run IDs and workspace names become object keys and file names: one conservative
# alphabet, no separators, no leading dot. Run IDs are longer than workspace names.
SAFE_KEY_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# S3's rules for new buckets: 3-63 of [a-z0-9.-], a letter or digit at each end.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MAX_COMMIT_CHARS = 128
_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")


def check_key_part(kind: str, value: str) -> str:
    """Refuse a run ID or workspace name that could escape its directory or key prefix."""
    if not SAFE_KEY_PART.fullmatch(value) or ".." in value:
        raise ValueError(f"unsafe {kind} {value!r}: use letters, digits, '_', '-' or '.'")
    return value


def _check_bucket(bucket: str) -> None:
    if not _BUCKET.fullmatch(bucket) or ".." in bucket or _IPV4.fullmatch(bucket):
        raise ValueError(
            f"invalid S3 bucket name {bucket!r}: use 3-63 lowercase letters, digits, '.' or '-', "
            "starting and ending with a letter or digit"
        )


class ArtifactsConfig(BaseModel):
    """infra.yaml's `artifacts:`: `s3://bucket[/prefix]` or `file:///abs/path`.

    The short form is the URL alone; the long form adds `endpoint_url` for an
    S3-compatible server (MinIO, Ceph, moto).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    endpoint_url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return {"url": data} if isinstance(data, str) else data

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if not url.isprintable() or any(c.isspace() for c in url):
            raise ValueError("artifacts URL must not contain spaces or control characters")
        parts = urlsplit(url)
        if parts.scheme not in ("s3", "file"):
            raise ValueError(f"artifacts URL must start with s3:// or file://, not {url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"artifacts URL {url!r} must not have a query or fragment")
        if "@" in parts.netloc:
            # Not echoed: whatever stands before '@' may be a secret.
            raise ValueError("artifacts URL must not carry credentials: use the AWS environment or config files")
        if parts.scheme == "s3":
            _check_bucket(parts.netloc)
            prefix = parts.path.strip("/")
            if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
                raise ValueError(f"artifacts URL {url!r} has an empty, '.' or '..' prefix segment")
        elif parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"artifacts URL {url!r} needs an absolute path: file:///var/lib/tfo/plans")
        elif ".." in parts.path.split("/"):
            raise ValueError(f"artifacts URL {url!r} must not contain '..'")
        return url

    @field_validator("endpoint_url")
    @classmethod
    def _check_endpoint(cls, endpoint: str | None) -> str | None:
        if endpoint is None:
            return None
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"artifacts endpoint_url must be http(s)://host[:port], not {endpoint!r}")
        if "@" in parts.netloc:
            raise ValueError("artifacts endpoint_url must not carry credentials: use the AWS environment")
        return endpoint

    @model_validator(mode="after")
    def _endpoint_needs_s3(self) -> ArtifactsConfig:
        if self.endpoint_url is not None and self.scheme != "s3":
            raise ValueError("artifacts endpoint_url applies only to an s3:// URL")
        return self

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def bucket(self) -> str:
        """The S3 bucket; empty for a file store."""
        return urlsplit(self.url).netloc if self.scheme == "s3" else ""

    @property
    def prefix(self) -> str:
        """The S3 key prefix without slashes at either end; empty for none."""
        return urlsplit(self.url).path.strip("/") if self.scheme == "s3" else ""

    @property
    def path(self) -> str:
        """The file store's root directory; empty for S3."""
        return urlsplit(self.url).path if self.scheme == "file" else ""


class ArtifactRef(BaseModel):
    """One saved plan file: where it is and what it must hash to. Small enough for any payload."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    url: str
    sha256: str
    size: int
    commit: str = ""
    workspace: str
    run_id: str

    @field_validator("sha256")
    @classmethod
    def _check_sha256(cls, value: str) -> str:
        if not SHA256_HEX.fullmatch(value):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        return value

    @field_validator("commit")
    @classmethod
    def _check_commit(cls, value: str) -> str:
        # Stored as S3 metadata, which takes printable ASCII only and 2 KB in all.
        if len(value) > MAX_COMMIT_CHARS or not (value.isascii() and value.isprintable()):
            raise ValueError(f"commit must be at most {MAX_COMMIT_CHARS} printable ASCII characters")
        return value

    @field_validator("size")
    @classmethod
    def _check_size(cls, value: int) -> int:
        if value < 0:
            raise ValueError("size must not be negative")
        return value

    @field_validator("workspace")
    @classmethod
    def _check_workspace(cls, value: str) -> str:
        return check_key_part("workspace name", value)

    @field_validator("run_id")
    @classmethod
    def _check_run_id(cls, value: str) -> str:
        return check_key_part("run ID", value)
