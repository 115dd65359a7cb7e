"""`tfo plan` and `tfo apply`: run the DAG, show progress, exit like -detailed-exitcode."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tfo.config.loader import load_config
from tfo.config.payloads import Mode, RunReport, RunRequest, RunStatus
from tfo.daemon.connection import ConnectionSettings
from tfo.daemon.followers import FollowerLock
from tfo.daemon.interrupt import Interrupted, run_until_signal
from tfo.daemon.plan_text import plan_text
from tfo.daemon.progress import make_progress
from tfo.daemon.prompt import confirm
from tfo.daemon.scope import default_state_dir, select
from tfo.daemon.session import ServerStart, open_session
from tfo.workflows.run_report import WAITING_FOR_UPSTREAM


@dataclass
class RunOptions:
    mode: Mode
    workspaces: list[str] = field(default_factory=list)
    parallelism: int | None = None
    auto_approve: bool = False
    as_json: bool = False
    no_wait: bool = False
    state_dir: Path | None = None
    local_worker: bool = False


def exit_code(report: RunReport) -> int:
    """plan: 0 no changes, 2 changes, 1 failure. apply: 0 success, 1 otherwise."""
    if report.status != RunStatus.SUCCEEDED:
        return 1
    if report.mode == "plan" and report.changes:
        return 2
    return 0


def run_command(config_path: Path, conn: ConnectionSettings, opts: RunOptions) -> int:
    loaded = load_config(config_path)
    state_dir = default_state_dir(config_path, opts.state_dir)
    select(loaded, opts.workspaces)  # bad input fails before any server starts
    with contextlib.ExitStack() as stack:
        # Boot the embedded server while the Temporal SDK and the workflows import.
        starting = stack.enter_context(ServerStart(state_dir)) if conn.embedded else None
        from tfo.daemon import runs

        request = runs.build_request(
            loaded,
            mode=opts.mode,
            workspaces=opts.workspaces,
            state_dir=state_dir,
            parallelism=opts.parallelism,
            auto_approve=opts.auto_approve,
            no_wait=opts.no_wait,
        )
        del loaded  # the request holds what the run needs: ~15 MB less at 10,000 workspaces
        report = _run(request, state_dir, conn, opts, starting)
    emit(report, as_json=opts.as_json)
    return exit_code(report)


def _run(
    request: RunRequest, state_dir: Path, conn: ConnectionSettings, opts: RunOptions, starting: ServerStart | None
) -> RunReport:
    from tfo.daemon import runs

    queues = sorted({ws.task_queue for ws in request.config.workspaces})

    async def main() -> RunReport:
        async with open_session(
            conn,
            state_dir=state_dir,
            default_queue=request.config.task_queue,
            activity_queues=queues,
            local_worker=opts.local_worker,
            starting=starting,
        ) as session:
            if session.server:
                request.ui_url = session.server.ui_url
            adoption = await runs.find_resumable(session.client, state_dir, request)
            if adoption.note:
                print(f"tfo: {adoption.note}", file=sys.stderr)
            follower = adoption.follower
            if adoption.run_id:
                run_id = adoption.run_id
                print(f"resuming interrupted run {run_id}", file=sys.stderr)
            else:
                run_id = await runs.start_run(session.client, request)
                follower = FollowerLock.take(state_dir, run_id)
            # The run has its config (stored by reference); following it never reads the
            # specs, ~40 MB at 10,000 workspaces, and embedded this process is the worker too.
            request.config.workspaces = []
            if session.server:
                print(f"run {run_id} (Temporal UI: {session.server.ui_url})", file=sys.stderr)
            else:
                print(f"run {run_id}", file=sys.stderr)
            following[0] = run_id  # for the hint, if a signal interrupts
            ended = False
            try:
                final = await watch(session.client, run_id, as_json=opts.as_json)
                ended = True
            finally:
                if follower:
                    follower.release(ended=ended)
            runs.mark_ended(state_dir, run_id)
            return final

    following: list[str | None] = [None]
    try:
        return run_until_signal(main())
    except Interrupted as exc:
        exc.run_id = following[0]
        raise


async def watch(client: object, run_id: str, *, as_json: bool) -> RunReport:
    """Follow a run to its end, asking for approval on a terminal."""
    from tfo.daemon import runs

    progress = make_progress()
    interactive = sys.stdin.isatty() and not as_json

    def on_update(report: RunReport) -> None:
        if progress:
            progress.update(report)

    def on_approval(report: RunReport) -> asyncio.Future[bool] | None:
        if progress:
            progress.close()
        print(plan_text(report, color=sys.stderr.isatty()), file=sys.stderr)
        if not interactive:
            print(
                f"waiting for approval: run `tfo approve {run_id}` or `tfo reject {run_id}`",
                file=sys.stderr,
            )
            return None
        return asyncio.ensure_future(confirm("Apply these changes? Only 'yes' is accepted: "))

    # Each status query costs the worker and the server ~10 ms of CPU, taken from
    # terraform on a small machine: a live table wants 5 a second, log lines one.
    interval = 0.2 if sys.stderr.isatty() else 1.0
    try:
        return await runs.follow(client, run_id, on_update=on_update, on_approval=on_approval, interval=interval)  # type: ignore[arg-type]
    finally:
        if progress:
            progress.close()


def emit(report: RunReport, *, as_json: bool) -> None:
    if as_json:
        report.write_public_json(sys.stdout)
        return
    changed = [n for n, ws in report.workspaces.items() if ws.outcome in ("changes", "applied")]
    failed = [n for n, ws in report.workspaces.items() if ws.status.value == "failed"]
    text = f"{report.mode} {report.status.value}"
    if report.commit:
        text += f" at commit {report.commit[:7]}"
    if report.approval_note:
        text += f" ({report.approval_note})"
    if changed and report.mode == "apply":
        applied = [n for n in changed if report.workspaces[n].outcome == "applied"]
        # A workspace whose operations stop at plan has changes it never applies.
        unapplied = [n for n in changed if n not in applied]
        if applied:
            text += f"; applied: {_names(applied)}"
        if unapplied:
            text += f"; planned, not applied: {_names(unapplied)}"
    elif changed:
        text += f"; changes in: {_names(changed)}"
    elif report.status == RunStatus.SUCCEEDED:
        text += "; no changes"
    waiting = [n for n, ws in report.workspaces.items() if ws.detail == WAITING_FOR_UPSTREAM]
    if waiting:
        text += f"; waiting for an upstream apply: {_names(waiting)}"
    if failed:
        text += f"; failed: {_names(failed)}"
    print(text)
    if report.error:
        print(f"  {report.error}")
    for name in failed:
        print(f"  {name}: {report.workspaces[name].error}")


SUMMARY_NAMES = 20


def _names(names: list[str]) -> str:
    """Up to SUMMARY_NAMES names: a summary line of a 10,000-workspace run stays a line
    (`tfo status RUN --json` lists them all)."""
    if len(names) <= SUMMARY_NAMES:
        return ", ".join(names)
    return f"{', '.join(names[:SUMMARY_NAMES])} and {len(names) - SUMMARY_NAMES:,} more"
