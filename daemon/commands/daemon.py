"""`tfo daemon`: workers, drift schedules, metrics and alerts in one long-running process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

from tfo.config.errors import TfoError
from tfo.config.loader import LoadedConfig, load_config
from tfo.daemon import runs
from tfo.daemon.connection import ConnectionSettings, connect, core_logging
from tfo.daemon.drift import fetch_gauges
from tfo.daemon.drift_cache import DriftCache
from tfo.daemon.embedded import EmbeddedServer
from tfo.daemon.health import Readiness
from tfo.daemon.metrics import DriftCollector, terraform_histogram
from tfo.daemon.metrics_listen import listen
from tfo.daemon.schedules import reconcile_schedules
from tfo.daemon.worker import build_workers, worker_identity


def _say(text: str) -> None:
    print(f"tfo daemon: {text}", file=sys.stderr, flush=True)


def daemon(
    config_path: Path,
    conn: ConnectionSettings,
    *,
    metrics_port: int,
    metrics_host: str,
    sdk_metrics_port: int | None,
    state_dir: Path | None,
    queues: list[str],
    ui_url: str | None,
) -> int:
    from tfo.daemon.log_routing import route_logging

    loaded = load_config(config_path)
    directory = runs.default_state_dir(config_path, state_dir)
    route_logging(prefix="tfo daemon: ", show_activity_failures=True)
    with contextlib.ExitStack() as stack:
        address = conn.address
        if conn.embedded:
            info = stack.enter_context(EmbeddedServer(directory))
            address, ui_url = info.address, ui_url or info.ui_url
            _say(f"embedded Temporal server at {info.address} (state: {directory})")
        if ui_url:
            _say(f"Temporal UI: {ui_url}")
        serve = _serve(loaded, conn, address, directory, metrics_port, metrics_host, sdk_metrics_port, queues, ui_url)
        del loaded  # _serve drops it once the schedules are registered
        asyncio.run(serve)
    return 0


async def _serve(
    loaded: LoadedConfig,
    conn: ConnectionSettings,
    address: str | None,
    state_dir: Path,
    metrics_port: int,
    metrics_host: str,
    sdk_metrics_port: int | None,
    extra_queues: list[str],
    ui_url: str | None,
) -> None:
    runtime = None
    if sdk_metrics_port is not None:
        from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

        bind = f"{metrics_host}:{sdk_metrics_port}"
        runtime = Runtime(
            telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind), logging=core_logging())
        )
    client = await connect(conn, address=address, runtime=runtime)
    loop = asyncio.get_running_loop()
    # Only the config's path and id are kept between reloads: the schedules hold their own
    # copy (stored by reference), and 10,000 workspaces' config is ~25 MB of memory.
    current = {"path": str(loaded.path), "id": loaded.id}

    cache = DriftCache(lambda: fetch_gauges(client, current["id"], timeout=timedelta(seconds=30)))
    registry = CollectorRegistry()
    registry.register(DriftCollector(cache.reports))
    histogram = terraform_histogram(registry)
    from tfo.activities.runner import TerraformRunner

    runner = TerraformRunner(on_finish=lambda command, seconds: histogram.labels(command=command).observe(seconds))
    # Embedded, the daemon is the only worker, so it serves every queue the config names.
    # Against a server it serves the workflow queue plus --task-queue: each other queue's
    # terraform belongs to the `tfo worker --task-queue` holding that queue's credentials.
    config_queues = loaded.task_queues() if conn.embedded else []
    snap_queues = sorted({loaded.config.task_queue, *config_queues, *extra_queues})
    workers = build_workers(
        client,
        default_queue=loaded.config.task_queue,
        activity_queues=snap_queues,
        identity=worker_identity("daemon"),
        runner=runner,
    )
    ready = Readiness()
    server = listen(registry, port=metrics_port, host=metrics_host, ready=ready)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    ready.attach(tasks)
    health = asyncio.create_task(ready.watch(client))
    await cache.refresh()  # the first scrape already shows the state the ledger keeps
    refresher = asyncio.create_task(cache.run())
    server.start()
    _say(f"metrics: http://{'127.0.0.1' if metrics_host == '0.0.0.0' else metrics_host}:{server.port}/metrics")

    async def sync(fresh: LoadedConfig | None = None) -> None:
        """Register the schedules of `fresh`, or of the config file read again."""
        if fresh is None:
            try:
                fresh = load_config(Path(current["path"]))
            except TfoError as exc:
                _say(f"config not reloaded: {exc}")
                return
            current["id"] = fresh.id
            await cache.refresh()
        from tfo.activities.binary_policy import allow_config

        allow_config(fresh.path)  # the operator's own file, like the one the daemon started with
        try:
            result = await reconcile_schedules(
                client, fresh, state_dir=state_dir, ui_url=ui_url, namespace=conn.namespace
            )
        except TfoError as exc:  # e.g. another config file with the same `id:`: one line, keep serving
            _say(f"schedules not reconciled: {exc}")
            return
        _say(f"schedules: {len(result.created)} created, {len(result.updated)} updated, {len(result.deleted)} deleted")

    await sync(loaded)  # loaded and checked a moment ago
    del loaded
    ready.started = True
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(sync()))
    _say(f"running; serving queues {', '.join(snap_queues)}. SIGHUP reloads the config, SIGTERM stops.")
    await stop.wait()
    _say("stopping: in-flight terraform gets SIGINT and releases its lock")
    ready.started = False
    health.cancel()
    refresher.cancel()
    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
    await asyncio.gather(*tasks, return_exceptions=True)
    server.stop()
    _say("stopped")
