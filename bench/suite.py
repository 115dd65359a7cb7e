"""The benchmark procedure: one generated tree, every contender, the same invocation.

For each tree (shape, N):

1. write the workspaces, infra.yaml, a Makefile and a sequential script;
2. `tfo apply --auto-approve` once (embedded), so every later run is a drift check
   of an applied DAG, then one unmeasured `tfo plan` as a warm-up;
3. start `tfo daemon` (embedded server, its own state dir) and warm it up;
4. `runs` rounds of: the sequential loop, `make -jP`, `make -jP` with only tfo's
   terraform work, `tfo plan --parallelism P` in embedded mode (start-up of the CLI
   and of the server included) and `tfo plan --temporal-address` against the
   daemon, back to back, so that a change in machine load hits every contender alike;
5. optionally `runs` embedded plans without tfo's init and validate markers, to
   show what skipping them saves;
6. every run's history is fetched, for event counts and payload sizes.
"""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import json
import os
import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import dags
from bench.history import HistoryStats, stats_for
from bench.procs import Daemon, Measured, run_measured, running_daemon
from bench.tree import baseline_env, write_tree


def say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


@dataclass
class BenchEnv:
    """Where things live and what every process gets in its environment."""

    out: Path
    terraform: str
    tfo: str
    env: dict[str, str]

    @classmethod
    def create(cls, out: Path, *, product: Path | None = None) -> BenchEnv:
        """Args:
        product: Run tfo from this source tree instead (e.g. an older commit's
            `git archive`), with the same virtualenv, to measure a change.
        """
        from devtools.offline_terraform import pinned_terraform, write_offline_setup

        out = out.resolve()
        out.mkdir(parents=True, exist_ok=True)
        (out / ".gitignore").write_text("*\n")
        cli_config = write_offline_setup(out / "offline")
        terraform = os.environ.get("TFO_TEST_TERRAFORM") or str(pinned_terraform())
        env = dict(os.environ)
        env.update(
            TF_CLI_CONFIG_FILE=str(cli_config),
            # tfo keeps a per-user index of runs; keep the bench's hundreds of runs out of $HOME.
            XDG_STATE_HOME=str(out / "xdg-state"),
            TFO_LOG_DIR=str(out / "logs"),
        )
        # Under `make bench` the baseline's make must not join the outer make's jobserver.
        for name in (
            "TFO_TEMPORAL_ADDRESS",
            "TFO_STATE_DIR",
            "TFO_ENCRYPTION_KEY_FILE",
            "MAKEFLAGS",
            "MFLAGS",
            "MAKELEVEL",
            "MAKEOVERRIDES",
        ):
            env.pop(name, None)
        if product is not None:
            env["PYTHONPATH"] = str(product.resolve())  # ahead of the editable install
        # tfo as installed from a wheel: its modules compiled (a run must not measure
        # compiling them, which PYTHONDONTWRITEBYTECODE would repeat at every start).
        source = product.resolve() if product is not None else Path(__file__).resolve().parents[1]
        for package in ("tfo", "config", "activities", "workflows", "daemon"):
            compileall.compile_dir(source / package, quiet=1)
        tfo = str(Path(sys.executable).parent / "tfo")
        return cls(out=out, terraform=terraform, tfo=tfo, env=env)


@dataclass
class Sample:
    """Values of one figure over the runs."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float | None) -> None:
        if value is not None:
            self.values.append(value)

    @property
    def median(self) -> float:
        ordered = sorted(self.values)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    def summary(self) -> dict[str, float | int]:
        if not self.values:
            return {}
        return {"median": self.median, "min": min(self.values), "max": max(self.values), "n": len(self.values)}


@dataclass
class TreeResult:
    shape: str
    n: int
    parallelism: int
    depth: int
    edges: int
    figures: dict[str, Sample] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def sample(self, name: str) -> Sample:
        return self.figures.setdefault(name, Sample())

    def to_json(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "n": self.n,
            "parallelism": self.parallelism,
            "depth": self.depth,
            "edges": self.edges,
            "figures": {k: {**v.summary(), "values": v.values} for k, v in self.figures.items()},
            "facts": self.facts,
        }


def _times(path: Path) -> dict[str, float]:
    """Per-workspace seconds from the baselines' step log."""
    seconds: dict[str, float] = {}
    for line in path.read_text().splitlines():
        name, start, end = line.split()
        seconds[name] = float(end) - float(start)
    return seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The scale runs' layered DAG: layers of 25 workspaces, each depending on 1-2 of the layer above.
SCALE_WIDTH = 25


class TreeBench:
    """All measurements on one generated tree."""

    def __init__(
        self, bench: BenchEnv, shape: str, n: int, parallelism: int, *, kind: str = "full", name: str | None = None
    ) -> None:
        self.bench = bench
        self.edges = dags.generate(shape, n) if shape != "scale" else dags.layered(n, width=SCALE_WIDTH)
        self.root = bench.out / (name or f"{shape}-{n}")
        self.kind = kind
        self.p = parallelism
        self.state = self.root / ".tfo"  # embedded runs
        self.daemon_state = self.root / ".tfo-daemon"  # the daemon's server and init markers
        self.result = TreeResult(
            shape=shape,
            n=n,
            parallelism=parallelism,
            depth=dags.depth(self.edges),
            edges=sum(len(d) for d in self.edges.values()),
        )
        self.run_ids: dict[str, list[str]] = {}

    def note_load(self, when: str) -> None:
        """Record the 1-minute load average: the machine may be shared."""
        self.result.facts[f"load_{when}"] = float(Path("/proc/loadavg").read_text().split()[0])

    def write(self) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)
        self.config = write_tree(self.root, self.edges, binary=self.bench.terraform, parallelism=self.p, kind=self.kind)

    # -- contenders -------------------------------------------------------------

    def _baseline(self, argv: list[str], label: str) -> Measured:
        times = self.root / f"times-{label}.log"
        times.unlink(missing_ok=True)
        env = baseline_env(self.root, binary=self.bench.terraform, times=times, base=self.bench.env)
        measured = run_measured(argv, env=env, cwd=self.root).check()
        measured.extra["per_workspace"] = _times(times)  # type: ignore[assignment]
        return measured

    def sequential(self) -> Measured:
        return self._baseline(["bash", str(self.root / "sequential.sh")], "sequential")

    def make(self, *, lean: bool = False) -> Measured:
        argv = ["make", f"-j{self.p}", "-s", "-f", str(self.root / "Makefile"), "all"]
        if lean:
            argv.append("STEP=step_lean.sh")
        return self._baseline(argv, "make-lean" if lean else "make")

    def tfo(
        self,
        mode: str,
        *extra: str,
        ok: tuple[int, ...] = (0,),
        watch: tuple[int, ...] = (),
        state: Path | None = None,
    ) -> Measured:
        state = state or self.state
        argv = [
            self.bench.tfo,
            mode,
            str(self.config),
            "--parallelism",
            str(self.p),
            "--state-dir",
            str(state),
            "--json",
            *extra,
        ]
        measured = run_measured(argv, env=self.bench.env, state_dir=state, watch=watch).check(*ok)
        report = json.loads(measured.stdout)
        if report["status"] != "succeeded":
            raise RuntimeError(f"tfo {mode} did not succeed: {measured.stdout[:2000]}")
        measured.extra["run_id"] = report["run_id"]
        return measured

    def _remember(self, label: str, measured: Measured) -> None:
        self.run_ids.setdefault(label, []).append(str(measured.extra["run_id"]))

    # -- procedure --------------------------------------------------------------

    def prepare(self) -> None:
        self.write()
        say(f"{self.root.name}: apply (embedded, P={self.p})")
        applied = self.tfo("apply", "--auto-approve")
        self._remember("apply", applied)
        self.result.facts["apply_seconds"] = applied.seconds
        self.result.facts["apply_worker_rss_mb"] = applied.maxrss_mb
        self.result.facts["apply_server_rss_mb"] = applied.server_hwm_mb
        warm = self.tfo("plan")
        self._remember("warmup", warm)

    def rounds(self, runs: int, *, sequential: bool, daemon: Daemon | None = None) -> None:
        """Every contender once per round, back to back, so load changes hit them alike."""
        r = self.result
        per_ws: dict[str, list[float]] = {}
        for i in range(runs):
            if sequential:
                seq = self.sequential()
                r.sample("sequential_s").add(seq.seconds)
                for name, secs in seq.extra["per_workspace"].items():  # type: ignore[union-attr]
                    per_ws.setdefault(name, []).append(secs)
            made = self.make()
            r.sample("make_s").add(made.seconds)
            r.sample("make_cpu_s").add(made.extra.get("tree_cpu_s"))
            lean = self.make(lean=True)
            r.sample("make_lean_s").add(lean.seconds)
            r.sample("make_lean_cpu_s").add(lean.extra.get("tree_cpu_s"))
            embedded = self.tfo("plan")
            self._remember("embedded", embedded)
            r.sample("tfo_embedded_s").add(embedded.seconds)
            r.sample("embedded_worker_rss_mb").add(embedded.maxrss_mb)
            r.sample("embedded_server_rss_mb").add(embedded.server_hwm_mb)
            r.sample("embedded_cli_cpu_s").add(embedded.extra.get("own_cpu_s"))
            r.sample("embedded_tree_cpu_s").add(embedded.extra.get("tree_cpu_s"))
            r.sample("embedded_server_cpu_s").add(embedded.extra.get("server_cpu_s"))
            text = f"tfo embedded {embedded.seconds:.2f}s"
            if daemon is not None:
                client = self.daemon_run(daemon)
                text += f", tfo against the daemon {client.seconds:.2f}s"
            say(
                f"{self.root.name} round {i + 1}/{runs}: "
                + (f"sequential {seq.seconds:.2f}s, " if sequential else "")
                + f"make -j{self.p} {made.seconds:.2f}s, make (tfo's work) {lean.seconds:.2f}s, "
                + text
            )
        if per_ws:
            median = {name: Sample(v).median for name, v in per_ws.items()}
            r.facts["workspace_seconds_median"] = Sample(list(median.values())).median
            r.facts["workspace_work_s"] = sum(median.values())
            r.facts["critical_path_s"] = dags.critical_path_bound(self.edges, median, self.p)
            r.facts["longest_path_s"] = dags.critical_path_bound(self.edges, median, 10**9)

    def init_skip(self, runs: int) -> None:
        """Repeat drift runs without what tfo remembers between runs, to show what it saves.

        - `no_validate`: the init markers lose their "validated" note, so validate runs;
        - `no_markers`: the markers are deleted, so init and validate both run.
        """
        markers = self.state / "init"
        for i in range(runs):
            for marker in markers.glob("*.json"):
                data = json.loads(marker.read_text())
                data.pop("validated", None)
                marker.write_text(json.dumps(data))
            again = self.tfo("plan")
            self._remember("no_validate", again)
            self.result.sample("tfo_embedded_no_validate_marks_s").add(again.seconds)
            for marker in markers.glob("*.json"):
                marker.unlink()
            fresh = self.tfo("plan")
            self._remember("no_markers", fresh)
            self.result.sample("tfo_embedded_no_init_markers_s").add(fresh.seconds)
            say(
                f"{self.root.name} repeat-run savings {i + 1}/{runs}: validate run again {again.seconds:.2f}s, "
                f"init and validate run again {fresh.seconds:.2f}s"
            )

    @contextlib.contextmanager
    def running_daemon(self) -> Iterator[Daemon]:
        """`tfo daemon` in embedded mode on its own state dir, warmed up by one run.

        Its own state dir keeps its server and workers apart from the embedded runs
        of the same rounds (an idle daemon and server cost ~0.1 s of CPU a minute).
        """
        argv = [
            self.bench.tfo,
            "daemon",
            str(self.config),
            "--state-dir",
            str(self.daemon_state),
            "--metrics-host",
            "127.0.0.1",
            "--metrics-port",
            str(free_port()),
        ]
        log = self.root / "daemon.log"
        with running_daemon(argv, env=self.bench.env, state_dir=self.daemon_state, log=log) as daemon:
            self._remember("daemon_warmup", self._client(daemon))
            yield daemon
            self.histories(daemon.address, only=("daemon",))
        code, rss = daemon.stopped or (None, None)
        self.result.facts["daemon_exit_code"] = code
        self.result.facts["daemon_peak_rss_mb"] = rss

    def _client(self, daemon: Daemon) -> Measured:
        return self.tfo("plan", "--temporal-address", daemon.address, watch=(daemon.pid,), state=self.daemon_state)

    def daemon_run(self, daemon: Daemon) -> Measured:
        run = self._client(daemon)
        r = self.result
        self._remember("daemon", run)
        r.sample("tfo_daemon_s").add(run.seconds)
        r.sample("daemon_worker_rss_mb").add(run.extra.get("watched_hwm_mb"))
        r.sample("daemon_server_rss_mb").add(run.server_hwm_mb)
        r.sample("daemon_client_rss_mb").add(run.maxrss_mb)
        r.sample("daemon_worker_cpu_s").add(run.extra.get("watched_cpu_s"))
        r.sample("daemon_server_cpu_s").add(run.extra.get("server_cpu_s"))
        r.sample("daemon_client_cpu_s").add(run.extra.get("own_cpu_s"))
        return run

    def histories(self, address: str, *, only: tuple[str, ...] | None = None) -> None:
        """Event counts and payload sizes of the measured runs whose histories `address` holds."""
        daemon_labels = ("daemon",)
        wanted = {
            label: ids
            for label, ids in self.run_ids.items()
            if label not in ("warmup", "daemon_warmup")
            and (label in only if only is not None else label not in daemon_labels)
        }
        flat = [run_id for ids in wanted.values() for run_id in ids]
        stats = asyncio.run(stats_for(address, flat))
        for label, ids in wanted.items():
            for run_id in ids:
                s = stats[run_id]
                self._history_figures(label, s)

    def _history_figures(self, label: str, s: HistoryStats) -> None:
        r = self.result
        r.sample(f"{label}_parent_events").add(s.parent_events)
        r.sample(f"{label}_total_events").add(s.total_events)
        r.sample(f"{label}_largest_payload_bytes").add(s.largest_payload)
        r.sample(f"{label}_parent_history_bytes").add(s.history_bytes)
        r.sample(f"{label}_workflow_s").add(s.parent_seconds)
        r.sample(f"{label}_init_skipped").add(s.init_skipped)

    def histories_embedded(self) -> None:
        """Fetch histories by starting the state dir's embedded server in this process."""
        from tfo.daemon.embedded import EmbeddedServer

        with EmbeddedServer(self.state) as info:
            self.histories(info.address)

    # -- derived figures ----------------------------------------------------------

    def derive(self) -> None:
        r, f = self.result, self.result.figures
        n = self.result.n

        def per_run(name: str, a: str, b: str, op: Callable[[float, float], float]) -> None:
            if a in f and b in f and len(f[a].values) == len(f[b].values):
                r.figures[name] = Sample([op(x, y) for x, y in zip(f[a].values, f[b].values, strict=True)])

        per_run("embedded_over_make", "tfo_embedded_s", "make_s", lambda t, m: t / m)
        per_run("daemon_over_make", "tfo_daemon_s", "make_s", lambda t, m: t / m)
        per_run("embedded_overhead_ms_per_ws", "tfo_embedded_s", "make_s", lambda t, m: (t - m) / n * 1000)
        per_run("daemon_overhead_ms_per_ws", "tfo_daemon_s", "make_s", lambda t, m: (t - m) / n * 1000)
        per_run("embedded_over_make_lean", "tfo_embedded_s", "make_lean_s", lambda t, m: t / m)
        per_run("daemon_over_make_lean", "tfo_daemon_s", "make_lean_s", lambda t, m: t / m)
        per_run("daemon_overhead_ms_per_ws_vs_lean", "tfo_daemon_s", "make_lean_s", lambda t, m: (t - m) / n * 1000)
        cp = r.facts.get("critical_path_s")
        if cp:
            for name, key in (
                ("embedded_over_cp", "tfo_embedded_s"),
                ("daemon_over_cp", "tfo_daemon_s"),
                ("make_over_cp", "make_s"),
            ):
                if key in f:
                    r.figures[name] = Sample([v / cp for v in f[key].values])
        if "tfo_embedded_no_init_markers_s" in f and "tfo_embedded_s" in f:
            r.facts["init_skip_saves_s"] = f["tfo_embedded_no_init_markers_s"].median - f["tfo_embedded_s"].median
        if "tfo_embedded_no_validate_marks_s" in f and "tfo_embedded_s" in f:
            r.facts["validate_skip_saves_s"] = f["tfo_embedded_no_validate_marks_s"].median - f["tfo_embedded_s"].median

    def headline(self) -> tuple[float, float]:
        """(overhead_ratio, per_workspace_overhead_ms): medians of the per-round figures.

        Each round ran make and tfo back to back, so a round's ratio is the fairest
        comparison on a machine whose load changes; the median of rounds is reported.
        """
        f = self.result.figures
        ratio = f["embedded_over_make"].median
        key = "daemon_overhead_ms_per_ws" if "daemon_overhead_ms_per_ws" in f else "embedded_overhead_ms_per_ws"
        return ratio, f[key].median


def bench_tree(
    bench: BenchEnv,
    shape: str,
    n: int,
    parallelism: int,
    runs: int,
    *,
    sequential: bool = True,
    init_skip: bool = False,
    daemon: bool = True,
) -> TreeBench:
    tree = TreeBench(bench, shape, n, parallelism)
    tree.note_load("start")
    tree.prepare()
    with contextlib.ExitStack() as stack:
        running = stack.enter_context(tree.running_daemon()) if daemon else None
        tree.rounds(runs, sequential=sequential, daemon=running)
    if init_skip:
        tree.init_skip(runs)
    tree.histories_embedded()
    tree.derive()
    tree.note_load("end")
    return tree


def bench_scale(bench: BenchEnv, n: int, parallelism: int, runs: int) -> TreeBench:
    """Many tiny (outputs-only) workspaces: history size, payload sizes and worker memory."""
    tree = TreeBench(bench, "scale", n, parallelism, kind="tiny")
    tree.note_load("start")
    tree.write()
    say(f"{tree.root.name}: apply (embedded, P={parallelism})")
    applied = tree.tfo("apply", "--auto-approve")
    tree._remember("apply", applied)
    r = tree.result
    r.facts["apply_seconds"] = applied.seconds
    r.facts["apply_worker_rss_mb"] = applied.maxrss_mb
    r.facts["apply_server_rss_mb"] = applied.server_hwm_mb
    for i in range(runs):
        run = tree.tfo("plan")
        tree._remember("embedded", run)
        r.sample("tfo_embedded_s").add(run.seconds)
        r.sample("embedded_worker_rss_mb").add(run.maxrss_mb)
        r.sample("embedded_server_rss_mb").add(run.server_hwm_mb)
        say(f"{tree.root.name} plan {i + 1}/{runs}: {run.seconds:.2f}s, worker peak RSS {run.maxrss_mb:.0f} MB")
    tree.histories_embedded()
    tree.note_load("end")
    return tree
