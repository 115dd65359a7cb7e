"""`tfo worker`: serve task queues against a configured Temporal server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from tfo.activities.runner import TerraformRunner
from tfo.config.errors import RunError
from tfo.daemon.connection import ConnectionSettings, connect
from tfo.daemon.health import Readiness
from tfo.daemon.metrics import terraform_histogram
from tfo.daemon.metrics_listen import listen
from tfo.daemon.worker import build_workers, worker_identity


def served_queues(queues: list[str], default_queue: str) -> tuple[bool, list[str]]:
    """Whether to serve the workflow queue, and the activity-only queues.

    With no `--task-queue` a worker serves the workflow queue (workflows and their
    terraform). With `--task-queue Q` it runs only Q's terraform, so a worker holding
    one account's credentials never picks up another queue's work; naming the
    workflow queue among them serves it in full as well.
    """
    wanted = sorted(set(queues))
    serve_default = not wanted or default_queue in wanted
    return serve_default, [q for q in wanted if q != default_queue]


def _own_dir(work_dir: Path) -> Path:
    """The worker's own dir (private: it holds saved plans), with a provider plugin cache
    so that a checkout per commit does not download providers again."""
    try:
        work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        plugins = Path(os.environ.setdefault("TF_PLUGIN_CACHE_DIR", str(work_dir / "plugins")))
        plugins.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"--work-dir {work_dir}: {exc.strerror}") from None
    return work_dir.resolve()


def worker(
    conn: ConnectionSettings,
    *,
    queues: list[str],
    default_queue: str,
    identity: str | None,
    metrics_port: int,
    metrics_host: str,
    work_dir: Path | None = None,
) -> int:
    if conn.embedded:
        raise RunError("tfo worker needs a server: pass --temporal-address or set TFO_TEMPORAL_ADDRESS")
    if work_dir is not None:
        work_dir = _own_dir(work_dir)
    serve_default, activity_queues = served_queues(queues, default_queue)
    from tfo.daemon.log_routing import route_logging

    route_logging(prefix="tfo worker: ", show_activity_failures=True)

    async def main() -> None:
        client = await connect(conn)
        registry = CollectorRegistry()
        histogram = terraform_histogram(registry)
        runner = TerraformRunner(on_finish=lambda command, seconds: histogram.labels(command=command).observe(seconds))
        workers = build_workers(
            client,
            default_queue=default_queue,
            activity_queues=activity_queues,
            serve_default=serve_default,
            identity=identity or worker_identity("worker"),
            runner=runner,
            work_dir=work_dir,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        ready = Readiness()
        server = listen(registry, port=metrics_port, host=metrics_host, ready=ready)
        tasks = [asyncio.create_task(w.run()) for w in workers]
        ready.attach(tasks)
        ready.started = True
        health = asyncio.create_task(ready.watch(client))
        server.start()
        served = [f"{default_queue} (workflows and terraform)"] if serve_default else []
        served += [f"{q} (terraform only)" for q in activity_queues]
        print(f"tfo worker serving {', '.join(served)} on {conn.address}", file=sys.stderr, flush=True)
        await stop.wait()
        print("tfo worker: stopping; in-flight terraform gets SIGINT", file=sys.stderr, flush=True)
        ready.started = False
        health.cancel()
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        await asyncio.gather(*tasks, return_exceptions=True)
        server.stop()

    asyncio.run(main())
    return 0
