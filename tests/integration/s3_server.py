"""A real S3 API for tests: `moto_server` on 127.0.0.1, started as a subprocess.

`s3_endpoint` (session-scoped) yields the endpoint URL with fake credentials in the
environment and the bucket `S3_TEST_BUCKET` created. Tests that share it keep apart
by using their own key prefix.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

S3_TEST_BUCKET = "tfo-test-artifacts"
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# A developer's own AWS setup must neither leak into the tests nor be used by them.
_CLEARED_AWS_ENV = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _moto_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("moto_server")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]
    return [*head, "-H", "127.0.0.1", "-p", str(port)]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
            return True
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def moto_server(log_file: Path, *, timeout: float = 30.0) -> Iterator[str]:
    """Run `moto_server` until the block ends; yields its endpoint URL. Stops it by PID."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log_file.open("wb") as log:
        # Its own session: a Ctrl-C meant for pytest does not reach it before the cleanup below.
        process = subprocess.Popen(
            _moto_command(port), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout
        while not _answers(url):
            if process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {process.returncode}: see {log_file}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not answer on {url} within {timeout:.0f}s: see {log_file}")
            time.sleep(0.05)
        yield url
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


def create_bucket(endpoint_url: str, bucket: str = S3_TEST_BUCKET) -> None:
    import boto3

    boto3.session.Session().client("s3", endpoint_url=endpoint_url).create_bucket(Bucket=bucket)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 endpoint URL; fake AWS credentials are set in os.environ while it runs."""
    log_file = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with pytest.MonkeyPatch.context() as env:
        for name in _CLEARED_AWS_ENV:
            env.delenv(name, raising=False)
        for name, value in FAKE_AWS_ENV.items():
            env.setenv(name, value)
        # No ~/.aws files either: only the environment above counts.
        env.setenv("AWS_CONFIG_FILE", str(log_file.with_name("aws-config-absent")))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(log_file.with_name("aws-credentials-absent")))
        with moto_server(log_file) as url:
            create_bucket(url)
            yield url
