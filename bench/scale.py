"""The scale series: how tfo's cost grows with the number of workspaces N.

For each N of the series (outputs-only workspaces, `tiny` in bench/tree.py), and for
the large-outputs case (`large`: the same plus an 8 KB string output per workspace),
on a layered DAG of width 25 in which every workspace below the first layer consumes
the `id` output of 1-2 upstreams:

1. write the tree;
2. `rounds` times: `tfo apply --auto-approve`, then `tfo plan`, each in embedded
   mode at parallelism P; each command is measured as in the other benches: wall
   time, CPU time and peak RSS (VmHWM) of the tfo process, which is the worker and
   the client, and of the Temporal server it starts;
3. after each command, the bench starts the state dir's server itself and reads the
   history of every workflow execution that started while the command ran.

Why embedded commands, with the histories read afterwards, and not one server the
bench keeps up for the whole series: every command starts and stops its own server,
so the server's peak RSS (VmHWM never goes down) and its CPU time belong to that
command alone; on a shared server the plan's peak would carry the apply's. The
server's start-up is part of every embedded command, so it is counted in the server
CPU (a fixed cost of about a second: it weighs ~1 ms per workspace at N = 1,000 and
slightly flatters the linearity ratio, the largest N over the smallest). Stopping
the server loses nothing: its SQLite database in the state dir holds every history
(tfo stops it with SIGKILL after the WAL commit and relies on that itself), so the
re-started server serves them all.

Which executions belong to a command: those whose StartTime, in the visibility API,
lies between the command's start and its end. Commands on a state dir run one at a
time and nothing else uses it, so that is exactly what the command created, whether
a run is one parent with a child per workspace or is split into segment workflows.
Executions that started earlier and were still open (the drift ledger, which every
run signals) count as well when the command added events to them: "most events" is
the longest history at the command's end, theirs included; "largest payload" is
over the events the command caused. Visibility records are written by the server
asynchronously: history.window_stats waits for the count to settle and also follows
child-started and continued-as-new events from every fetched history, and reports
what only that found.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from bench.history import WindowStats, window_stats
from bench.procs import Measured
from bench.suite import SCALE_WIDTH, BenchEnv, TreeBench, TreeResult, say
from bench.tree import LARGE_OUTPUT_BYTES

DEFAULT_SERIES = "1000,5000,10000"
PHASES = ("apply", "plan")


def parse_series(text: str) -> list[int]:
    """'1000,5000,10000' -> [1000, 5000, 10000] (ascending, no duplicates, no zeros)."""
    return sorted({int(part) for part in text.replace(" ", "").split(",") if part and int(part) > 0})


class SeriesTree:
    """One N of the series: apply and plan, `rounds` times, with every execution's history."""

    def __init__(self, bench: BenchEnv, n: int, parallelism: int, *, kind: str, concurrency: int) -> None:
        self.tree = TreeBench(bench, "scale", n, parallelism, kind=kind, name=f"series-{kind}-{n}")
        self.kind = kind
        self.concurrency = concurrency
        self.result: TreeResult = self.tree.result
        self.result.facts.update(kind=kind, width=SCALE_WIDTH)
        if kind == "large":
            self.result.facts["output_bytes"] = LARGE_OUTPUT_BYTES

    def run(self, rounds: int) -> TreeResult:
        tree = self.tree
        tree.note_load("start")
        tree.write()
        for i in range(rounds):
            for phase in PHASES:
                extra = ("--auto-approve",) if phase == "apply" else ()
                since = dt.datetime.now(dt.UTC)
                measured = tree.tfo(phase, *extra)
                until = dt.datetime.now(dt.UTC)
                self.result.facts.setdefault(f"{phase}_run_ids", []).append(measured.extra["run_id"])
                self.record(phase, measured)
                say(
                    f"{tree.root.name} round {i + 1}/{rounds} {phase}: {measured.seconds:.1f}s, "
                    f"worker RSS {measured.maxrss_mb:.0f} MB, server RSS {measured.server_hwm_mb or 0:.0f} MB; "
                    "reading its histories"
                )
                started = time.monotonic()
                stats = self.histories(since, until)
                self.record_histories(phase, stats, time.monotonic() - started)
                say(
                    f"{tree.root.name} {phase}: {stats.executions} executions (and {stats.earlier} earlier ones "
                    f"it added events to), most events {stats.most_events} "
                    f"({stats.most_events_type}), largest payload {stats.largest_payload} B "
                    f"({stats.largest_payload_type}); read in {time.monotonic() - started:.0f}s"
                )
        tree.note_load("end")
        return self.result

    def record(self, phase: str, m: Measured) -> None:
        r, n = self.result, self.result.n
        worker_cpu, server_cpu = m.extra.get("own_cpu_s"), m.extra.get("server_cpu_s")
        r.sample(f"{phase}_wall_s").add(m.seconds)
        r.sample(f"{phase}_wall_ms_per_ws").add(m.seconds / n * 1000)
        r.sample(f"{phase}_worker_cpu_s").add(worker_cpu)
        r.sample(f"{phase}_worker_cpu_ms_per_ws").add(None if worker_cpu is None else worker_cpu / n * 1000)
        r.sample(f"{phase}_server_cpu_s").add(server_cpu)
        r.sample(f"{phase}_server_cpu_ms_per_ws").add(None if server_cpu is None else server_cpu / n * 1000)
        r.sample(f"{phase}_worker_rss_mb").add(m.maxrss_mb)
        r.sample(f"{phase}_server_rss_mb").add(m.server_hwm_mb)

    def histories(self, since: dt.datetime, until: dt.datetime) -> WindowStats:
        """Start the state dir's embedded server in this process and read the window's executions."""
        from tfo.daemon.embedded import EmbeddedServer

        with EmbeddedServer(self.tree.state) as info:
            return asyncio.run(window_stats(info.address, since, until, concurrency=self.concurrency))

    def record_histories(self, phase: str, s: WindowStats, seconds: float) -> None:
        r = self.result
        r.sample(f"{phase}_executions").add(s.executions)
        r.sample(f"{phase}_earlier_executions").add(s.earlier)
        r.sample(f"{phase}_most_events").add(s.most_events)
        r.sample(f"{phase}_total_events").add(s.total_events)
        r.sample(f"{phase}_largest_payload_bytes").add(s.largest_payload)
        r.sample(f"{phase}_largest_history_bytes").add(s.largest_history_bytes)
        r.sample(f"{phase}_found_by_history").add(s.found_by_history)
        r.sample(f"{phase}_open_executions").add(s.open_executions)
        r.sample(f"{phase}_history_read_s").add(seconds)
        # of the last round: which workflow types, and which one holds the extremes
        r.facts[f"{phase}_types"] = s.types
        r.facts[f"{phase}_open_types"] = s.open_types
        r.facts[f"{phase}_most_events_type"] = s.most_events_type
        r.facts[f"{phase}_largest_payload_type"] = s.largest_payload_type


def bench_series(
    bench: BenchEnv,
    sizes: list[int],
    large: int,
    parallelism: int,
    rounds: int,
    *,
    concurrency: int = 32,
    before_each: Callable[[], object] = lambda: None,
    save: Callable[[dict[str, Any]], None] = lambda _: None,
) -> dict[str, Any]:
    """Every N of `sizes` (outputs only) and `large` workspaces with 8 KB outputs (0: none).

    The cheapest first. A failed N is noted, with what it measured before it failed,
    and the others still run; `save` gets the results after each N, so hours of
    figures survive a later failure.
    """
    series: dict[str, Any] = {
        "parallelism": parallelism,
        "rounds": rounds,
        "width": SCALE_WIDTH,
        "large_output_bytes": LARGE_OUTPUT_BYTES,
        "trees": [],
        "failed": [],
    }
    plan = sorted([("tiny", n) for n in sizes] + ([("large", large)] if large else []), key=lambda k: (k[1], k[0]))
    for kind, n in plan:
        before_each()
        tree = SeriesTree(bench, n, parallelism, kind=kind, concurrency=concurrency)
        try:
            tree.run(rounds)
        except Exception as exc:  # keep the figures of the other sizes, and this one's so far
            failure = f"{kind}:{n}: {type(exc).__name__}: {str(exc)[:300]}"
            series["failed"].append(failure)
            tree.result.facts["failed"] = failure
            say(f"series {kind}-{n} failed: {exc}")
        if tree.result.figures:
            series["trees"].append(tree.result.to_json())
        save(series)
    return series
