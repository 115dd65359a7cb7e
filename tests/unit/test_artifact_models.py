"""infra.yaml's `artifacts:` and the `ArtifactRef` a run keeps for each saved plan."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tfo.config.artifact_models import ArtifactRef, ArtifactsConfig

SHA = "a" * 64


@pytest.mark.parametrize(
    ("given", "scheme", "bucket", "prefix", "path"),
    [
        ("s3://plans", "s3", "plans", "", ""),
        ("s3://plans/", "s3", "plans", "", ""),
        ("s3://my.plans-1/tfo/prod/", "s3", "my.plans-1", "tfo/prod", ""),
        ({"url": "s3://plans/tfo", "endpoint_url": "http://minio:9000"}, "s3", "plans", "tfo", ""),
        ("file:///var/lib/tfo/plans", "file", "", "", "/var/lib/tfo/plans"),
        ("file://localhost/srv/plans", "file", "", "", "/srv/plans"),
    ],
)
def test_valid_artifact_urls(given: object, scheme: str, bucket: str, prefix: str, path: str) -> None:
    config = ArtifactsConfig.model_validate(given)
    assert (config.scheme, config.bucket, config.prefix, config.path) == (scheme, bucket, prefix, path)


def test_the_short_form_equals_the_long_form() -> None:
    assert ArtifactsConfig.model_validate("s3://plans/x") == ArtifactsConfig(url="s3://plans/x")
    assert ArtifactsConfig.model_validate({"url": "s3://plans/x"}).endpoint_url is None


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("https://plans.s3.amazonaws.com/x", "must start with s3:// or file://"),
        ("plans/x", "must start with s3:// or file://"),
        ("gs://plans", "must start with s3:// or file://"),
        ("s3://", "invalid S3 bucket name ''"),
        ("s3://ab", "invalid S3 bucket name 'ab'"),
        ("s3://My_Bucket/x", "invalid S3 bucket name 'My_Bucket'"),
        ("s3://-plans", "invalid S3 bucket name"),
        ("s3://plans-", "invalid S3 bucket name"),
        ("s3://pl..ans", "invalid S3 bucket name"),
        ("s3://192.168.1.10", "invalid S3 bucket name"),
        (f"s3://{'a' * 64}", "invalid S3 bucket name"),
        ("s3://plans/a//b", "empty, '.' or '..' prefix segment"),
        ("s3://plans/a/../b", "empty, '.' or '..' prefix segment"),
        ("s3://plans/x?versionId=1", "must not have a query or fragment"),
        ("s3://plans/x#frag", "must not have a query or fragment"),
        ("s3://plans/with space", "must not contain spaces or control characters"),
        ("s3://plans/x\n", "must not contain spaces or control characters"),
        ("file://plans", "needs an absolute path"),
        ("file:relative/plans", "needs an absolute path"),
        ("file://", "needs an absolute path"),
        ("file:///var/../etc", "must not contain '..'"),
        ({"url": "file:///srv/plans", "endpoint_url": "http://minio:9000"}, "applies only to an s3:// URL"),
        ({"url": "s3://plans", "endpoint_url": "minio:9000"}, "must be http(s)://host[:port]"),
        ({"url": "s3://plans", "endpoint_url": "ftp://minio"}, "must be http(s)://host[:port]"),
        ({"url": "s3://plans", "region": "eu-west-1"}, "Extra inputs are not permitted"),
        ({}, "Field required"),
        (42, "Input should be a valid dictionary"),
    ],
)
def test_invalid_artifact_configs(given: object, message: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        ArtifactsConfig.model_validate(given)
    errors = invalid.value.errors()
    assert len(errors) == 1, errors
    assert message in errors[0]["msg"]
    assert "\n" not in errors[0]["msg"]


@pytest.mark.parametrize(
    "given",
    [
        "s3://AKIAEXAMPLE:wJalrXUtnFEMI@plans/x",
        {"url": "s3://plans", "endpoint_url": "http://AKIAEXAMPLE:wJalrXUtnFEMI@minio:9000"},
    ],
)
def test_credentials_in_a_url_are_refused_without_echoing_them(given: object) -> None:
    with pytest.raises(ValidationError) as invalid:
        ArtifactsConfig.model_validate(given)
    message = invalid.value.errors(include_input=False)[0]["msg"]
    assert "must not carry credentials" in message
    assert "wJalrXUtnFEMI" not in message


def _ref(**changes: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "url": "s3://plans/tfo/runs/tfo-apply-demo-0123456789ab/network.tfplan",
        "sha256": SHA,
        "size": 1024,
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "workspace": "network",
        "run_id": "tfo-apply-demo-0123456789ab",
    }
    return {**fields, **changes}


def test_a_ref_round_trips_and_ignores_unknown_fields() -> None:
    ref = ArtifactRef.model_validate(_ref(added_in_a_later_version=True))
    assert ArtifactRef.model_validate_json(ref.model_dump_json()) == ref
    without_commit = _ref()
    del without_commit["commit"]
    assert ArtifactRef.model_validate(without_commit).commit == ""


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sha256": "A" * 64}, "64 lowercase hex digits"),
        ({"sha256": "a" * 63}, "64 lowercase hex digits"),
        ({"size": -1}, "must not be negative"),
        ({"workspace": "../etc"}, "unsafe workspace name"),
        ({"workspace": "a/b"}, "unsafe workspace name"),
        ({"run_id": ".hidden"}, "unsafe run ID"),
        ({"run_id": ""}, "unsafe run ID"),
        ({"commit": "x" * 129}, "at most 128 printable ASCII"),
        ({"commit": "caf\u00e9"}, "at most 128 printable ASCII"),
    ],
)
def test_invalid_refs(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ArtifactRef.model_validate(_ref(**changes))
