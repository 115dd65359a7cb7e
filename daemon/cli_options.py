"""Options and arguments the CLI's commands share, and turning them into settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigArg = Annotated[Path, typer.Argument(help="Path to infra.yaml.", show_default=False)]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


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


def allow_config_binaries(config: Path) -> None:
    """An in-process worker runs the binaries of the config it was started with, and no
    binary a workflow payload names on its own (activities.binary_policy)."""
    from tfo.activities.binary_policy import allow_config

    allow_config(config)


def allow_binaries(binaries: list[str] | None) -> None:
    from tfo.activities.binary_policy import allow_binaries

    allow_binaries(binaries or [], base=Path.cwd())


def connection_settings(
    address: str | None, namespace: str | None, cert: Path | None, key: Path | None, ca: Path | None
):
    from tfo.daemon.connection import ConnectionSettings

    return ConnectionSettings.from_options(address=address, namespace=namespace, tls_cert=cert, tls_key=key, tls_ca=ca)
