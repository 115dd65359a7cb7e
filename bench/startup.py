"""What tfo's start-up changes bought, measured one by one.

    python -m bench.startup [--runs 5]

Against a fresh embedded dev server in a temporary state dir:
- stopping the server: a plain SIGTERM (waiting for it to exit) against tfo's stop
  (SIGTERM, then SIGKILL after a short grace);
- building a process's first worker: the SDK's defaults (sandboxed workflow runner,
  build ID derived by hashing the loaded modules) against each of tfo's two settings,
  each in a fresh process, since the SDK caches what it derives.

Prints one line per figure (median, min and max over the runs) and a JSON document
on the last line, which BENCHMARKS.md's notes quote.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def server_stops(runs: int) -> dict[str, dict[str, float]]:
    from tfo.daemon.embedded import EmbeddedServer

    plain, tfo = [], []
    for i in range(runs * 2):
        with tempfile.TemporaryDirectory() as tmp:
            server = EmbeddedServer(Path(tmp))
            (Path(tmp) / "server").mkdir()
            info = server._start()
            began = time.perf_counter()
            if i % 2 == 0:
                os.kill(info.pid, signal.SIGTERM)
                os.waitpid(info.pid, 0)
                plain.append(time.perf_counter() - began)

            else:
                server.info = info
                server.stop()
                tfo.append(time.perf_counter() - began)
    return {"server_stop_sigterm_s": _summary(plain), "server_stop_tfo_s": _summary(tfo)}


async def _first_worker_build(address: str, variant: str) -> float:
    """Seconds to build this process's first Worker (as in a CLI run), everything imported."""
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    from tfo.daemon.connection import ConnectionSettings, connect
    from tfo.daemon.worker import WORKFLOWS, build_id

    options: dict[str, Any] = {
        "sdk_defaults": {},
        "fixed_build_id": {"build_id": build_id()},
        "unsandboxed_fixed_build_id": {"build_id": build_id(), "workflow_runner": UnsandboxedWorkflowRunner()},
    }[variant]
    client = await connect(ConnectionSettings(), address=address)
    began = time.perf_counter()
    Worker(client, task_queue=f"bench-{os.getpid()}", workflows=WORKFLOWS, activities=[], **options)
    return time.perf_counter() - began


def worker_builds(runs: int) -> dict[str, dict[str, float]]:
    from tfo.daemon.embedded import EmbeddedServer

    variants = ("sdk_defaults", "fixed_build_id", "unsandboxed_fixed_build_id")
    results: dict[str, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedServer(Path(tmp)) as info:
        for _ in range(runs):
            for variant in variants:  # a fresh process each: the SDK caches what it derives
                out = subprocess.run(
                    [sys.executable, "-m", "bench.startup", "--first-build", info.address, variant],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                results[variant].append(float(out.stdout.strip().splitlines()[-1]))
    return {f"worker_build_{v}_s": _summary(values) for v, values in results.items()}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--first-build", nargs=2, metavar=("ADDRESS", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_build:
        print(asyncio.run(_first_worker_build(*args.first_build)))
        return 0
    figures = server_stops(args.runs)
    figures.update(worker_builds(args.runs))
    for name, s in figures.items():
        print(f"{name}: median {s['median']:.3f} (min {s['min']:.3f}, max {s['max']:.3f}, n={s['n']})")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
