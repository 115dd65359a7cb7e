"""The alert endpoint is down: the drift state is kept, the alert is retried with backoff
and delivered exactly once when the endpoint is back, across a worker restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.conftest import running_workers
from tests.integration.engine import run_stack
from tests.reliability.figures import record_figure
from tests.reliability.processes import GIVE_UP
from tests.stacks import WorkspaceTemplate as W
from tests.stacks import write_stack
from tfo.config.drift_models import DriftReport, ledger_id
from tfo.config.ledger_shards import ledger_shard
from tfo.config.loader import load_config


class FlakyReceiver:
    """An HTTP endpoint that answers 500 until `up` is set, recording every POST."""

    def __init__(self) -> None:
        self.up = threading.Event()
        self.posts: list[tuple[int, dict[str, Any], float]] = []
        self._lock = threading.Lock()
        self.port = 0

    def delivered(self) -> list[dict[str, Any]]:
        with self._lock:
            return [body for code, body, _ in self.posts if code == 200]

    def failed(self) -> int:
        with self._lock:
            return sum(1 for code, _, _ in self.posts if code != 200)

    @contextlib.contextmanager
    def serving(self) -> Iterator[FlakyReceiver]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                code = 200 if receiver.up.is_set() else 500
                with receiver._lock:
                    receiver.posts.append((code, body, time.monotonic()))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(server.server_address[1])
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


async def until(what: str, probe: Any) -> Any:
    deadline = time.monotonic() + GIVE_UP
    while not (found := probe()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)
    return found


async def test_alert_is_retried_until_the_endpoint_is_back_and_sent_once(temporal_env, terraform, tmp_path, task_queue):
    client = temporal_env.client
    name = f"alerts-{task_queue}"
    with FlakyReceiver().serving() as hook:
        top = {
            "name": name,
            "task_queue": task_queue,
            "alerts": {"urls": [f"json://127.0.0.1:{hook.port}/hook"], "on": ["drift", "resolved"]},
        }
        config = write_stack(tmp_path / "stack", [W("app")], binary=terraform.binary, top=top)
        # Keyed by identity, not name; "app" is the only workspace, so its shard holds everything.
        ledger = client.get_workflow_handle(ledger_id(load_config(config).id, ledger_shard("app")))

        async def report() -> DriftReport:
            found: DriftReport = await ledger.query("report", result_type=DriftReport)
            return found

        # A plan of a never-applied workspace: drift, and an alert the endpoint refuses.
        async with running_workers(client, task_queue):
            planned = await run_stack(client, config, mode="plan", with_workers=False)
            assert planned.workspaces["app"].outcome == "changes"
            await until("a refused delivery", lambda: hook.failed() >= 1)
            during = await report()
        # The worker goes away during the outage and another takes over.
        async with running_workers(client, task_queue):
            await until("a second refused delivery", lambda: hook.failed() >= 2)
            kept = await report()
            down_since = hook.posts[0][2]
            hook.up.set()
            (alert,) = await until("the delivery", hook.delivered)
            record_figure(
                "alert endpoint down: seconds from the first refusal to delivery", time.monotonic() - down_since
            )
            record_figure("alert endpoint down: refused deliveries before success", hook.failed())
            # The same drift found again: no new alert.
            again = await run_stack(client, config, mode="plan", with_workers=False)
            assert again.workspaces["app"].outcome == "changes"
            settled = await until_async(
                report, lambda r: r.alerts_pending == 0 and r.checks_total["app"]["drifted"] == 2
            )
            await asyncio.sleep(1.0)

    for state in (during, kept):
        assert state.workspaces["app"].status == "drifted"
        assert state.alerts_pending == 1 and state.alerts_sent == 0
    assert alert["title"] == f"Drift detected: {name}/app"
    assert len(hook.delivered()) == 1
    assert settled.alerts_sent == 1
    assert settled.workspaces["app"].status == "drifted"


async def until_async(fetch: Any, ok: Any) -> Any:
    deadline = time.monotonic() + GIVE_UP
    while True:
        value = await fetch()
        if ok(value):
            return value
        assert time.monotonic() < deadline, f"never settled: {value}"
        await asyncio.sleep(0.2)
