"""Health endpoints of `tfo daemon` and `tfo worker` against a Temporal server that goes away."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.stacks import WorkspaceTemplate as W
from tests.stacks import write_stack
from tfo.daemon.embedded import TUNING, free_port, port_open, temporal_binary

TFO = str(Path(sys.executable).parent / "tfo")


def _status(port: int, path: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _wait(check, timeout: float = 90.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_healthz_and_readyz_follow_temporal(terraform, tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            temporal_binary(),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
            *TUNING,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        assert _wait(lambda: port_open(port), 30)
        config = write_stack(tmp_path / "stack", [W("a")], binary=terraform.binary, top={"task_queue": "health"})
        env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg"), "TFO_LOG_DIR": str(tmp_path / "logs")}
        daemon_port, worker_port = free_port(), free_port()
        address = f"127.0.0.1:{port}"
        common = ["--temporal-address", address, "--metrics-host", "127.0.0.1"]
        procs.append(
            subprocess.Popen(
                [TFO, "daemon", str(config), "--metrics-port", str(daemon_port), *common],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        procs.append(
            subprocess.Popen(
                [TFO, "worker", "--default-queue", "health", "--metrics-port", str(worker_port), *common],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        for metrics in (daemon_port, worker_port):
            assert _wait(lambda m=metrics: _status(m, "/readyz") == 200), metrics
            assert _status(metrics, "/healthz") == 200
            assert _status(metrics, "/metrics") == 200

        _stop(server)  # Temporal becomes unreachable
        for metrics in (daemon_port, worker_port):
            assert _wait(lambda m=metrics: _status(m, "/readyz") == 503), metrics
            assert _status(metrics, "/healthz") == 200  # alive, just not ready
    finally:
        for proc in procs:
            _stop(proc)
        _stop(server)
