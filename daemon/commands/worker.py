"""`tfo worker`: serve task queues against a configured Temporal server."""

from __future__ import annotations

import asyncio
import signal
import sys

from config.errors import RunError
from daemon.connection import ConnectionSettings, connect
from daemon.worker import build_workers, worker_identity


def worker(conn: ConnectionSettings, *, queues: list[str], default_queue: str, identity: str | None) -> int:
    if conn.embedded:
        raise RunError("tfo worker needs a server: pass --temporal-address or set TFO_TEMPORAL_ADDRESS")

    async def main() -> None:
        client = await connect(conn)
        workers = build_workers(
            client,
            default_queue=default_queue,
            activity_queues=queues,
            identity=identity or worker_identity("worker"),
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        tasks = [asyncio.create_task(w.run()) for w in workers]
        served = sorted({default_queue, *queues})
        print(f"tfo worker serving {', '.join(served)} on {conn.address}", file=sys.stderr, flush=True)
        await stop.wait()
        print("tfo worker: stopping; in-flight terraform gets SIGINT", file=sys.stderr, flush=True)
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    return 0
