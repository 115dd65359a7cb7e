"""The CLI's long-running commands: worker, daemon, codec server and MCP server.

Plain functions: daemon.cli registers them on the app (cli stays a thin parser).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tfo.daemon.cli_options import (
    AddressOpt,
    AllowBinaryOpt,
    ConfigArg,
    NamespaceOpt,
    StateDirOpt,
    TlsCaOpt,
    TlsCertOpt,
    TlsKeyOpt,
    allow_binaries,
    allow_config_binaries,
    connection_settings,
)


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

    allow_binaries(allow_binary)

    conn = connection_settings(address, namespace, tls_cert, tls_key, tls_ca)
    return run(
        conn,
        queues=task_queue or [],
        default_queue=default_queue,
        identity=identity,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        work_dir=work_dir,
    )


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

    allow_config_binaries(config)
    allow_binaries(allow_binary)

    return run(
        config,
        connection_settings(address, namespace, tls_cert, tls_key, tls_ca),
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        sdk_metrics_port=sdk_metrics_port,
        state_dir=state_dir,
        queues=task_queue or [],
        ui_url=ui_url,
    )


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

    conn = connection_settings(address, namespace, tls_cert, tls_key, tls_ca)
    return run(
        config_root or [Path.cwd()],
        conn,
        allow_apply=allow_apply,
        state_dir=state_dir,
        max_inline_workspaces=max_inline_workspaces,
        max_inline_bytes=max_inline_bytes,
    )
