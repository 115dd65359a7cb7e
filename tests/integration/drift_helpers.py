"""Helpers for drift-daemon tests: the real `tfo daemon`, a /metrics scraper, an alert receiver.

Every process started here is stopped by PID in a `finally`. Waiting is done by
polling with generous deadlines, never by asserting how long something took.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.cli_helpers import TFO, cli_env

# A safety net against a hung daemon or a check that never comes, not a speed assertion.
DEADLINE = 120.0
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float = DEADLINE, every: float = 0.25) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
        time.sleep(every)


# -- /metrics ----------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """One scrape: sample name + labels -> value."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def get(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def series(self, name: str) -> dict[frozenset[tuple[str, str]], float]:
        return {labels: value for (sample, labels), value in self.samples.items() if sample == name}

    def drift_gauges(self, config: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """The per-workspace drift series of one config (what a restart must restore)."""
        names = (
            "tfo_workspace_drifted",
            "tfo_workspace_resource_changes",
            "tfo_workspace_check_status",
            "tfo_workspace_last_check_timestamp_seconds",
            "tfo_drift_checks_total",
        )
        return {
            key: value
            for key, value in self.samples.items()
            if key[0] in names and ("config", config) in key[1]
        }


def scrape(port: int) -> Metrics:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = float(sample.value)
    return Metrics(samples)


def http_status(port: int, path: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


# -- the alert receiver ---------------------------------------------------------


@dataclass
class AlertReceiver:
    """A local HTTP endpoint behind an apprise `json://` URL; records every POSTed JSON body."""

    port: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.alerts)

    def titles(self) -> list[str]:
        return [a["title"] for a in self.received()]

    @contextlib.contextmanager
    def serving(self) -> Iterator[AlertReceiver]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.alerts.append({"path": self.path, **json.loads(body)})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(server.server_address[1])
        thread = threading.Thread(target=server.serve_forever, name="alert-receiver", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


# -- the daemon -----------------------------------------------------------------


@dataclass
class Daemon:
    proc: subprocess.Popen[Any]
    metrics_port: int
    logs: Path
    state_dir: Path

    def stderr(self) -> str:
        return (self.logs / "stderr").read_text()

    def diagnose(self) -> str:
        """The daemon's log and every run still going, for a failure message."""
        try:
            running = describe_running(self.state_dir)
        except Exception as exc:  # a diagnosis must not hide the failure
            running = f"(cannot list runs: {exc})"
        return f"--- running runs\n{running}\n--- daemon stderr\n{self.stderr()[-4000:]}"

    def scrape(self) -> Metrics:
        return scrape(self.metrics_port)

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"tfo daemon exited with {self.proc.returncode}:\n{self.stderr()}")
            return http_status(self.metrics_port, "/readyz") == 200

        wait_for("the daemon's /readyz", ready)

    def signal(self, signum: int) -> None:
        os.kill(self.proc.pid, signum)

    def terminate(self) -> int:
        """SIGTERM; return the exit code once the daemon has stopped on its own."""
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"tfo daemon did not stop on SIGTERM:\n{self.stderr()}") from None


@contextlib.contextmanager
def running_daemon(config: Path, tmp: Path, *, logs: Path, state_dir: Path | None = None) -> Iterator[Daemon]:
    """Start `tfo daemon CONFIG [--state-dir DIR]` in embedded mode; stop it by PID at the end."""
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [TFO, "daemon", str(config), "--metrics-port", str(port), "--metrics-host", "127.0.0.1"]
    if state_dir is not None:
        argv += ["--state-dir", str(state_dir)]
    with (logs / "stdout").open("w") as out, (logs / "stderr").open("w") as err:
        proc = subprocess.Popen(argv, cwd=tmp, env=cli_env(tmp), stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    daemon = Daemon(proc, port, logs, state_dir or config.parent / ".tfo")
    try:
        daemon.wait_ready()
        yield daemon
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


# -- reading the embedded server directly ------------------------------------------


def _address(state_dir: Path) -> str:
    info = json.loads((state_dir / "server" / "server.json").read_text())
    return f"127.0.0.1:{info['port']}"


def _with_client(state_dir: Path, body: Callable[[Any], Any]) -> Any:
    from tfo.daemon.connection import ConnectionSettings, connect

    async def main() -> Any:
        # tfo's own client factory: the same data converter (and codec, if any) as the daemon.
        client = await connect(ConnectionSettings(), address=_address(state_dir))
        return await body(client)

    return asyncio.run(main())


def schedule_intervals(state_dir: Path, prefix: str) -> dict[str, list[float]]:
    """Every schedule on the state dir's server whose ID starts with `prefix`, with its intervals in seconds."""

    async def body(client: Any) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        async for item in await client.list_schedules():
            if item.id.startswith(prefix):
                desc = await client.get_schedule_handle(item.id).describe()
                found[item.id] = [i.every.total_seconds() for i in desc.schedule.spec.intervals]
        return found

    result: dict[str, list[float]] = _with_client(state_dir, body)
    return result


def parent_runs(state_dir: Path) -> dict[str, str]:
    """Every ParentWorkflow run on the state dir's server: workflow ID -> execution status name."""

    async def body(client: Any) -> dict[str, str]:
        return {
            wf.id: wf.status.name async for wf in client.list_workflows("WorkflowType = 'ParentWorkflow'")
        }

    result: dict[str, str] = _with_client(state_dir, body)
    return result


def scheduled_waits(state_dir: Path, prefix: str) -> set[str]:
    """Running runs (IDs starting with `prefix`) with a workspace waiting for a lock right now."""
    from tfo.config.payloads import RunReport, WorkspaceStatus

    async def body(client: Any) -> set[str]:
        found = set()
        query = "WorkflowType = 'ParentWorkflow' AND ExecutionStatus = 'Running'"
        async for wf in client.list_workflows(query):
            if not wf.id.startswith(prefix):
                continue
            try:
                report = await client.get_workflow_handle(wf.id).query("status", result_type=RunReport)
            except Exception:  # it may have ended in between
                continue
            if report and any(ws.status == WorkspaceStatus.WAITING for ws in report.workspaces.values()):
                found.add(wf.id)
        return found

    result: set[str] = _with_client(state_dir, body)
    return result


def describe_running(state_dir: Path) -> str:
    """Each running ParentWorkflow with its workspaces' statuses (for failure messages)."""
    from tfo.config.payloads import RunReport

    async def body(client: Any) -> str:
        lines = []
        query = "WorkflowType = 'ParentWorkflow' AND ExecutionStatus = 'Running'"
        async for wf in client.list_workflows(query):
            try:
                report = await client.get_workflow_handle(wf.id).query("status", result_type=RunReport)
            except Exception as exc:
                lines.append(f"{wf.id}: (no status: {exc})")
                continue
            states = {n: (w.status.value, w.detail, w.error) for n, w in (report.workspaces if report else {}).items()}
            lines.append(f"{wf.id}: {states}")
        return "\n".join(lines) or "(none)"

    result: str = _with_client(state_dir, body)
    return result
