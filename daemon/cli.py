"""The typer CLI: it only parses arguments and dispatches to daemon.commands."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

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

ConfigArg = Annotated[Path, typer.Argument(help="Path to infra.yaml.", show_default=False)]


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


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


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


AddressOpt = Annotated[
    str | None,
    typer.Option("--temporal-address", help="Temporal frontend host:port (client mode). Env: TFO_TEMPORAL_ADDRESS."),
]
NamespaceOpt = Annotated[
    str | None, typer.Option("--namespace", help="Temporal namespace. Env: TFO_TEMPORAL_NAMESPACE.")
]
TlsCertOpt = Annotated[
    Path | None, typer.Option("--tls-cert", help="mTLS client certificate. Env: TFO_TEMPORAL_TLS_CERT.")
]
TlsKeyOpt = Annotated[Path | None, typer.Option("--tls-key", help="mTLS client key. Env: TFO_TEMPORAL_TLS_KEY.")]
TlsCaOpt = Annotated[Path | None, typer.Option("--tls-ca", help="Server CA certificate. Env: TFO_TEMPORAL_TLS_CA.")]
StateDirOpt = Annotated[
    Path | None,
    typer.Option("--state-dir", help="tfo's state dir (default: .tfo next to the config). Env: TFO_STATE_DIR."),
]
WorkspacesOpt = Annotated[
    list[str] | None, typer.Option("-w", "--workspace", help="Only these workspaces (and their dependencies).")
]
ParallelismOpt = Annotated[int | None, typer.Option("--parallelism", min=1, help="Workspaces run at once.")]
LocalWorkerOpt = Annotated[bool, typer.Option("--local-worker", help="In client mode, also run a worker here.")]
RunIdArg = Annotated[str, typer.Argument(help="The run ID that plan/apply printed.", show_default=False)]
AllowBinaryOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-binary",
        help="Also let this worker run this terraform/tofu binary (repeatable). Env: TFO_ALLOWED_BINARIES.",
    ),
]


def _allow_config_binaries(config: Path) -> None:
    """An in-process worker runs the binaries of the config it was started with, and no
    binary a workflow payload names on its own (activities.binary_policy)."""
    from tfo.activities.binary_policy import allow_config

    allow_config(config)


def _allow_binaries(binaries: list[str] | None) -> None:
    from tfo.activities.binary_policy import allow_binaries

    allow_binaries(binaries or [], base=Path.cwd())


def _conn(address: str | None, namespace: str | None, cert: Path | None, key: Path | None, ca: Path | None):
    from tfo.daemon.connection import ConnectionSettings

    return ConnectionSettings.from_options(address=address, namespace=namespace, tls_cert=cert, tls_key=key, tls_ca=ca)


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

    _allow_config_binaries(config)

    opts = RunOptions(
        mode="plan",
        workspaces=workspace or [],
        parallelism=parallelism,
        as_json=as_json,
        no_wait=no_wait,
        state_dir=state_dir,
        local_worker=local_worker,
    )
    return run_command(config, _conn(address, namespace, tls_cert, tls_key, tls_ca), opts)


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

    _allow_config_binaries(config)

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
    return run_command(config, _conn(address, namespace, tls_cert, tls_key, tls_ca), opts)


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

    return run(run_id, _conn(address, namespace, tls_cert, tls_key, tls_ca), state_dir=state_dir, as_json=as_json)


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

    conn = _conn(address, namespace, tls_cert, tls_key, tls_ca)
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
    return _decide(run_id, True, "", state_dir, _conn(address, namespace, tls_cert, tls_key, tls_ca))


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
    return _decide(run_id, False, reason, state_dir, _conn(address, namespace, tls_cert, tls_key, tls_ca))


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

    return run(run_id, _conn(address, namespace, tls_cert, tls_key, tls_ca), state_dir=state_dir)


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

    conn = _conn(address, namespace, tls_cert, tls_key, tls_ca)
    return run(run_id, conn, state_dir=state_dir, as_json=as_json)


@app.command(cls=TfoCommand)
def worker(
    task_queue: Annotated[
        list[str] | None,
        typer.Option(
            "--task-queue",
            help="Serve only this queue's terraform (repeatable). Without it: the workflow queue, in full.",
        ),
    ] = None,
    default_queue: Annotated[str, typer.Option("--default-queue", help="The workflow queue.")] = "tfo",
    identity: Annotated[
        str | None, typer.Option("--identity", help="This worker's name in run reports (default: pid@host).")
    ] = None,
    metrics_port: Annotated[int, typer.Option("--metrics-port", help="Port of /metrics, /healthz, /readyz.")] = 9464,
    metrics_host: Annotated[str, typer.Option("--metrics-host", help="Address the metrics server binds.")] = "0.0.0.0",
    work_dir: Annotated[
        Path | None,
        typer.Option(
            "--work-dir",
            envvar="TFO_WORK_DIR",
            help="This worker's own dir for git checkouts, saved plans and the plugin cache "
            "(cluster mode: no shared volume). Env: TFO_WORK_DIR.",
        ),
    ] = None,
    allow_binary: AllowBinaryOpt = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_ca: TlsCaOpt = None,
) -> int:
    """Run a worker against a Temporal server: for scale-out, or per account with --task-queue."""
    from tfo.daemon.commands.worker import worker as run

    _allow_binaries(allow_binary)

    conn = _conn(address, namespace, tls_cert, tls_key, tls_ca)
    return run(
        conn,
        queues=task_queue or [],
        default_queue=default_queue,
        identity=identity,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        work_dir=work_dir,
    )


@app.command("daemon", cls=TfoCommand)
def daemon_(
    config: ConfigArg,
    metrics_port: Annotated[int, typer.Option("--metrics-port", help="Port of /metrics, /healthz, /readyz.")] = 9464,
    metrics_host: Annotated[str, typer.Option("--metrics-host", help="Address the metrics server binds.")] = "0.0.0.0",
    sdk_metrics_port: Annotated[
        int | None, typer.Option("--sdk-metrics-port", help="Also export the Temporal SDK's worker metrics here.")
    ] = None,
    task_queue: Annotated[list[str] | None, typer.Option("--task-queue", help="Extra queue(s) to serve.")] = None,
    ui_url: Annotated[str | None, typer.Option("--ui-url", help="Temporal UI base URL for alert links.")] = None,
    allow_binary: AllowBinaryOpt = None,
    state_dir: StateDirOpt = None,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_ca: TlsCaOpt = None,
) -> int:
    """Run workers, drift schedules, metrics and alerts until SIGTERM."""
    from tfo.daemon.commands.daemon import daemon as run

    _allow_config_binaries(config)
    _allow_binaries(allow_binary)

    return run(
        config,
        _conn(address, namespace, tls_cert, tls_key, tls_ca),
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        sdk_metrics_port=sdk_metrics_port,
        state_dir=state_dir,
        queues=task_queue or [],
        ui_url=ui_url,
    )


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

    conn = _conn(address, namespace, tls_cert, tls_key, tls_ca)
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

    conn = _conn(address, namespace, tls_cert, tls_key, tls_ca)
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
    conn = _conn(address, namespace, tls_cert, tls_key, tls_ca)
    return run(action.value, config, conn, name=name, state_dir=state_dir, as_json=as_json)


@app.command("codec-server", cls=TfoCommand)
def codec_server_(
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8081,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    origin: Annotated[
        str, typer.Option("--origin", help="The Temporal UI origin allowed to call it (CORS).")
    ] = "http://localhost:8233",
) -> int:
    """Serve /decode and /encode so the Temporal UI can show encrypted payloads."""
    from tfo.daemon.commands.codec_server import codec_server

    return codec_server(host=host, port=port, origin=origin)


@app.command("mcp", cls=TfoCommand)
def mcp_(
    config_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--config-root",
            help="A directory agents may use configs from (repeatable; default: the current directory).",
        ),
    ] = None,
    allow_apply: Annotated[
        bool,
        typer.Option("--allow-apply", help="Let agents request applies; each still waits for `tfo approve`."),
    ] = False,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir", help="tfo's state dir (default: .tfo under the first config root). Env: TFO_STATE_DIR."
        ),
    ] = None,
    max_inline_workspaces: Annotated[
        int, typer.Option("--max-inline-workspaces", min=1, help="The most workspaces an inline config may have.")
    ] = 50,
    max_inline_bytes: Annotated[
        int, typer.Option("--max-inline-bytes", min=1, help="The largest inline config accepted, in bytes.")
    ] = 64 * 1024,
    address: AddressOpt = None,
    namespace: NamespaceOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_ca: TlsCaOpt = None,
) -> int:
    """Serve tfo to AI agents over MCP (stdio): list, plan, status, drift; applies need a human."""
    from tfo.daemon.commands.mcp import mcp as run

    conn = _conn(address, namespace, tls_cert, tls_key, tls_ca)
    return run(
        config_root or [Path.cwd()],
        conn,
        allow_apply=allow_apply,
        state_dir=state_dir,
        max_inline_workspaces=max_inline_workspaces,
        max_inline_bytes=max_inline_bytes,
    )
