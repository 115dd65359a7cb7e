"""`python -m bench`: run the benchmarks and write the report.

The last line printed on stdout is always
`overhead_ratio=X per_workspace_overhead_ms=Y`, for the headline tree:
X = tfo plan in embedded mode (CLI and server start-up included) / make -jP;
Y = (tfo plan against a running daemon - make -jP) / N, in milliseconds;
both `nan` when no headline tree was measured (e.g. `--trees '' --scale-series`).

`--scale-series` adds the scale series (bench/scale.py): outputs-only DAGs of N
workspaces, applied and planned, and a large-outputs case.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.scale import DEFAULT_SERIES, bench_series, parse_series
from bench.suite import BenchEnv, bench_scale, bench_tree, say

ROOT = Path(__file__).resolve().parent.parent
# Every shape at N = 10 and 40; the N = 100 trees take ~20 minutes each on 2 cores,
# so only the layered and random ones run by default (pass --trees for the others).
DEFAULT_TREES = "layered:40,chain:40,fanout:40,random:40,layered:10,chain:10,fanout:10,random:10,layered:100,random:100"


def wait_for_quiet(max_load: float, timeout: float) -> float:
    """Wait until the 1-minute load average is below `max_load`; return it."""
    deadline = time.monotonic() + timeout
    while True:
        load = float(Path("/proc/loadavg").read_text().split()[0])
        if load < max_load or time.monotonic() > deadline:
            return load
        say(f"waiting for a quiet machine: load {load:.2f} >= {max_load}")
        time.sleep(30)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one figure in under 2 minutes (layered, N=20)")
    parser.add_argument(
        "--trees",
        default=DEFAULT_TREES,
        help="SHAPE:N pairs, comma-separated (shapes: layered, chain, fanout, random)",
    )
    parser.add_argument("--parallelism", "-P", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (at least 3 for the report)")
    parser.add_argument("--scale", type=int, default=500, help="workspaces in the scale run (0: skip)")
    parser.add_argument(
        "--scale-series",
        nargs="?",
        const=DEFAULT_SERIES,
        default=None,
        metavar="N,N,...",
        help=f"run the scale series at these N (outputs only; alone: {DEFAULT_SERIES}); not run by default",
    )
    parser.add_argument(
        "--large-outputs",
        type=int,
        default=500,
        metavar="N",
        help="with --scale-series: also N workspaces with 8 KB outputs (0: skip)",
    )
    parser.add_argument("--scale-parallelism", type=int, default=8, help="tfo's parallelism in the scale series")
    parser.add_argument(
        "--scale-rounds",
        type=int,
        default=1,
        help="apply + plan rounds per N in the scale series (after the first, apply has nothing to change)",
    )
    parser.add_argument(
        "--history-concurrency", type=int, default=32, help="histories fetched at once in the scale series"
    )
    parser.add_argument("--headline", default="layered:40", help="the tree of the last printed line")
    parser.add_argument("--no-sequential", action="store_true", help="skip the sequential baseline")
    parser.add_argument(
        "--max-load", type=float, default=0.0, help="before each tree, wait for a 1-minute load below this"
    )
    parser.add_argument("--max-wait", type=float, default=600, help="seconds to wait for --max-load at most")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--product", type=Path, default=None, help="run tfo from this source tree (for before/after)")
    parser.add_argument("--report", type=Path, default=None, help="default: BENCHMARKS.md (quick: out/quick.md)")
    parser.add_argument(
        "--render", type=Path, default=None, metavar="RESULTS_JSON", help="only re-write the report from these results"
    )
    parser.add_argument(
        "--series-from",
        type=Path,
        default=None,
        metavar="RESULTS_JSON",
        help="with --render: take the scale series from this results.json or series.json (e.g. of make bench-scale)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.quick:
        # One round on one tree: a single figure in under two minutes.
        args.trees, args.scale, args.headline, args.runs = "layered:20", 0, "layered:20", 1
        args.no_sequential = True
    report_path = args.report or (args.out / "quick.md" if args.quick else ROOT / "BENCHMARKS.md")
    if args.render:  # e.g. after editing bench/NOTES.md
        results = json.loads(args.render.read_text())
        if args.series_from:
            other = json.loads(args.series_from.read_text())
            results["series"] = other.get("series", other)
        report_path.write_text(report.render(results, quick=args.quick))
        say(f"wrote {report_path}")
        print(last_line(results.get("headline")))
        return 0
    bench = BenchEnv.create(args.out, product=args.product)
    started = dt.datetime.now(dt.UTC)
    facts = report.machine_facts(bench)
    facts["load_before"] = Path("/proc/loadavg").read_text().strip()
    if args.product:
        facts["product"] = str(args.product)
    if args.max_load:
        facts["waited_for_load_below"] = f"{args.max_load} (up to {args.max_wait:.0f} s before each tree)"
    head_shape, head_n = args.headline.split(":")
    plan = [(shape, int(n)) for shape, _, n in (t.partition(":") for t in args.trees.split(",") if t)]
    # The headline tree first: it is the one the targets are about, and the machine
    # is likeliest to be as quiet as it was when the run began.
    plan.sort(key=lambda item: (item != (head_shape, int(head_n)),))
    trees = []
    failed: list[str] = []
    headline = None
    scale = None

    def run_scale() -> None:
        nonlocal scale
        if args.max_load:
            wait_for_quiet(args.max_load, args.max_wait)
        try:
            scale = bench_scale(bench, args.scale, args.parallelism, args.runs)
        except Exception as exc:  # keep the figures of the other trees
            failed.append(f"scale:{args.scale}: {type(exc).__name__}: {str(exc)[:300]}")
            say(f"scale run failed: {exc}")

    for shape, n in plan:
        is_head = (shape, n) == (head_shape, int(head_n))
        if args.max_load:
            wait_for_quiet(args.max_load, args.max_wait)
        try:
            tree = bench_tree(
                bench,
                shape,
                n,
                args.parallelism,
                args.runs,
                sequential=not args.no_sequential,
                init_skip=is_head and not args.quick,
            )
        except Exception as exc:  # one broken tree must not lose an hour of figures
            failed.append(f"{shape}:{n}: {type(exc).__name__}: {str(exc)[:300]}")
            say(f"{shape}-{n} failed: {exc}")
            continue
        trees.append(tree)
        if is_head:
            headline = tree
            if args.scale:  # right after the headline: the scale run is the other target
                run_scale()
        (args.out / "results.json").write_text(json.dumps([t.result.to_json() for t in trees], indent=1))
    if args.scale and headline is None:  # the headline tree was not among the trees, or failed
        run_scale()
    series = None
    if args.scale_series is not None:
        series = bench_series(
            bench,
            parse_series(args.scale_series),
            args.large_outputs,
            args.scale_parallelism,
            args.scale_rounds,
            concurrency=args.history_concurrency,
            before_each=(lambda: wait_for_quiet(args.max_load, args.max_wait)) if args.max_load else lambda: None,
            save=lambda partial: (args.out / "series.json").write_text(json.dumps(partial, indent=1)),
        )
        series.update(argv=sys.argv[1:] if argv is None else argv, date=facts["date"])
        failed += series["failed"]
    if failed:
        facts["failed"] = "; ".join(failed)
    if not trees and scale is None and not (series and series["trees"]):
        say("nothing could be measured")
        return 1
    facts["load_after"] = Path("/proc/loadavg").read_text().strip()
    facts["duration_s"] = (dt.datetime.now(dt.UTC) - started).total_seconds()
    if headline is None and trees:
        headline = trees[0]
    head = None
    if headline is not None:
        ratio, overhead = headline.headline()
        head = {"tree": f"{headline.result.shape}:{headline.result.n}", "ratio": ratio, "overhead_ms": overhead}
    results = {
        "facts": facts,
        "trees": [t.result.to_json() for t in trees],
        "scale": scale.result.to_json() if scale else None,
        "series": series,
        "headline": head,
        "argv": sys.argv[1:] if argv is None else argv,
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    report_path.write_text(report.render(results, quick=args.quick))
    say(f"wrote {report_path}")
    print(report.summary_lines(results))
    print(last_line(head), flush=True)
    return 0


def last_line(head: dict[str, Any] | None) -> str:
    if head is None:
        return "overhead_ratio=nan per_workspace_overhead_ms=nan"
    return f"overhead_ratio={head['ratio']:.3f} per_workspace_overhead_ms={head['overhead_ms']:.1f}"


if __name__ == "__main__":
    sys.exit(main())
