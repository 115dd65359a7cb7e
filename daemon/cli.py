"""The typer CLI: it only parses arguments and dispatches to daemon.commands."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from tfo.daemon import cli_services
from tfo.daemon.cli_options import (
    AddressOpt,
    ConfigArg,
    JsonOpt,
    LocalWorkerOpt,
    NamespaceOpt,
    ParallelismOpt,
    RunIdArg,
    StateDirOpt,
    TlsCaOpt,
    TlsCertOpt,
    TlsKeyOpt,
    WorkspacesOpt,
    allow_config_binaries,
    connection_settings,
)
from tfo.daemon.commands.graph import GraphFormat
from tfo.daemon.help_format import TfoCommand, TfoGroup

app = typer.Typer(
    name="tfo",
    cls=TfoGroup,
    help="tfo: run Terraform workspaces as a DAG on Temporal, and detect drift as a daemon.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from tfo import __version__

        typer.echo(f"tfo {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print tfo's version and exit.", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    """tfo: run Terraform workspaces as a DAG on Temporal, and detect drift as a daemon."""


@app.command(cls=TfoCommand)
def validate(config: ConfigArg, as_json: JsonOpt = False) -> int:
    """Validate a config; exit 0 if valid, 1 with the error otherwise."""
    from tfo.daemon.commands.validate import validate as run

    return run(config, as_json=as_json)


@app.command(cls=TfoCommand)
def graph(
    config: ConfigArg,
    fmt: Annotated[GraphFormat, typer.Option("--format", "-f", help="Output format.")] = GraphFormat.TEXT,
) -> int:
    """Print the workspace dependency graph."""
    from tfo.daemon.commands.graph import graph as run

    return run(config, fmt=fmt)


@app.command(cls=TfoCommand)
def schema() -> int:
    """Print the JSON Schema of infra.yaml."""
    from tfo.daemon.commands.schema import schema as run

    return run()


@app.command(cls=TfoCommand)
def plan(
    config: ConfigArg,
    workspace: WorkspacesOpt = None,
    parallelism: ParallelismOpt = None,
    as_json: JsonOpt = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Fail at once if a workspace is locked.")] = False,
    state_dir: StateDirOpt = None,
    local_worker: LocalWorkerOpt = False,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_ca: TlsCaOpt = None,
) -> int:
    """Plan the DAG. Exit 0: no changes; 2: changes; 1: something failed."""
    from tfo.daemon.commands.run import RunOptions, run_command

    allow_config_binaries(config)

    opts = RunOptions(
        mode="plan",
        workspaces=workspace or [],
        parallelism=parallelism,
        as_json=as_json,
        no_wait=no_wait,
        state_dir=state_dir,
        local_worker=local_worker,
    )
    return run_command(config, connection_settings(address, namespace, tls_cert, tls_key, tls_ca), opts)


@app.command(cls=TfoCommand)
def apply(
    config: ConfigArg,
    workspace: WorkspacesOpt = None,
    parallelism: ParallelismOpt = None,
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Skip the approval gate.")] = False,
    as_json: JsonOpt = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Fail at once if a workspace is locked.")] = False,
    state_dir: StateDirOpt = None,
    local_worker: LocalWorkerOpt = False,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_ca: TlsCaOpt = None,
) -> int:
    """Plan, wait for approval, then apply in DAG order. Exit 0 on success, 1 otherwise."""
    from tfo.daemon.commands.run import RunOptions, run_command

    allow_config_binaries(config)

    opts = RunOptions(
        mode="apply",
        workspaces=workspace or [],
        parallelism=parallelism,
        auto_approve=auto_approve,
        as_json=as_json,
        no_wait=no_wait,
        state_dir=state_dir,
        local_worker=local_worker,
    )
    return run_command(config, connection_settings(address, namespace, tls_cert, tls_key, tls_ca), opts)


@app.command(cls=TfoCommand)
def status(
    run_id: RunIdArg,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_ca: TlsCaOpt = None,
) -> int:
    """Show a run's per-workspace status."""
    from tfo.daemon.commands.status import status as run

    return run(
        run_id, connection_settings(address, namespace, tls_cert, tls_key, tls_ca), state_dir=state_dir, as_json=as_json
    )


@app.command("runs", cls=TfoCommand)
def runs_(
    config: Annotated[Path | None, typer.Argument(help="Config whose state dir to use (embedded mode).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 20,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_ca: TlsCaOpt = None,
) -> int:
    """List recent runs."""
    from tfo.daemon.commands.runs_list import list_runs

    conn = connection_settings(address, namespace, tls_cert, tls_key, tls_ca)
    return list_runs(config, conn, state_dir=state_dir, limit=limit, as_json=as_json)


def _decide(run_id: str, approved: bool, reason: str, state_dir: Path | None, conn) -> int:
    from tfo.daemon.commands.decide import decide

    return decide(run_id, conn, approved=approved, reason=reason, state_dir=state_dir)


@app.command(cls=TfoCommand)
def approve(
    run_id: RunIdArg,
    state_dir: StateDirOpt = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_ca: TlsCaOpt = None,
) -> int:
    """Approve an apply waiting at its gate."""
    return _decide(run_id, True, "", state_dir, connection_settings(address, namespace, tls_cert, tls_key, tls_ca))


@app.command(cls=TfoCommand)
def reject(
    run_id: RunIdArg,
    reason: Annotated[str, typer.Option("--reason")] = "",
    state_dir: StateDirOpt = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_ca: TlsCaOpt = None,
) -> int:
    """Reject an apply waiting at its gate; nothing is applied."""
    return _decide(run_id, False, reason, state_dir, connection_settings(address, namespace, tls_cert, tls_key, tls_ca))


@app.command(cls=TfoCommand)
def cancel(
    run_id: RunIdArg,
    state_dir: StateDirOpt = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_ca: TlsCaOpt = None,
) -> int:
    """Cancel a run: running terraform gets SIGINT, dependents are not started."""
    from tfo.daemon.commands.cancel import cancel as run

    return run(run_id, connection_settings(address, namespace, tls_cert, tls_key, tls_ca), state_dir=state_dir)


@app.command(cls=TfoCommand)
def resume(
    run_id: RunIdArg,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_ca: TlsCaOpt = None,
) -> int:
    """Resume an interrupted run (embedded mode runs its workers here) and follow it."""
    from tfo.daemon.commands.resume import resume as run

    conn = connection_settings(address, namespace, tls_cert, tls_key, tls_ca)
    return run(run_id, conn, state_dir=state_dir, as_json=as_json)


app.command(cls=TfoCommand)(cli_services.worker)
app.command("daemon", cls=TfoCommand)(cli_services.daemon_)


@app.command(cls=TfoCommand)
def show(
    run_id: RunIdArg,
    workspace: Annotated[list[str] | None, typer.Option("-w", "--workspace", help="Only these workspaces.")] = None,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_ca: TlsCaOpt = None,
) -> int:
    """Show a run's planned changes: terraform's saved plan while it exists, else the run's diff."""
    from tfo.daemon.commands.show import show as run

    conn = connection_settings(address, namespace, tls_cert, tls_key, tls_ca)
    return run(run_id, conn, workspaces=workspace or [], state_dir=state_dir, as_json=as_json)


@app.command(cls=TfoCommand)
def drift(
    config: ConfigArg,
    as_json: JsonOpt = False,
    history: Annotated[bool, typer.Option("--history", help="Show each workspace's status transitions.")] = False,
    workspace: Annotated[list[str] | None, typer.Option("-w", "--workspace", help="Only these workspaces.")] = None,
    state_dir: StateDirOpt = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_ca: TlsCaOpt = None,
) -> int:
    """Show the latest drift report of each workspace, or with --history its transitions."""
    from tfo.daemon.commands.drift import drift as run

    conn = connection_settings(address, namespace, tls_cert, tls_key, tls_ca)
    return run(config, conn, state_dir=state_dir, as_json=as_json, history=history, workspaces=workspace)


class ScheduleAction(StrEnum):
    LIST = "list"
    SYNC = "sync"
    TRIGGER = "trigger"
    PAUSE = "pause"
    UNPAUSE = "unpause"


@app.command("schedules", cls=TfoCommand)
def schedules_(
    action: Annotated[ScheduleAction, typer.Argument(help="list, sync, trigger, pause or unpause.")],
    config: ConfigArg,
    name: Annotated[str | None, typer.Argument(help="Schedule name (trigger, pause, unpause).")] = None,
    as_json: JsonOpt = False,
    state_dir: StateDirOpt = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_ca: TlsCaOpt = None,
) -> int:
    """Manage the drift schedules of a config: tfo schedules ACTION CONFIG [NAME]."""
    from tfo.config.errors import RunError
    from tfo.daemon.commands.schedules import schedules as run

    if action in (ScheduleAction.TRIGGER, ScheduleAction.PAUSE, ScheduleAction.UNPAUSE) and not name:
        raise RunError(f"tfo schedules {action.value} needs a schedule NAME")
    conn = connection_settings(address, namespace, tls_cert, tls_key, tls_ca)
    return run(action.value, config, conn, name=name, state_dir=state_dir, as_json=as_json)


app.command("codec-server", cls=TfoCommand)(cli_services.codec_server_)
app.command("mcp", cls=TfoCommand)(cli_services.mcp_)
