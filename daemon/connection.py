"""Connection settings and the one place a Temporal `Client` is created."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from tfo.config.errors import ConnectionFailedError

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.runtime import LoggingConfig, Runtime


# How long a query of a workflow (a run's status, a drift ledger shard) may wait. Longer
# than the SDK's sticky schedule-to-start timeout (10 s): a workflow whose last task ran
# on a process that has since gone (the `tfo plan` that recorded a ledger shard, a
# `tfo apply` killed at its gate) answers once its task moves back to the normal queue.
QUERY_TIMEOUT = timedelta(seconds=15)


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach Temporal. No address means embedded mode.

    Every field also reads from the environment: TFO_TEMPORAL_ADDRESS,
    TFO_TEMPORAL_NAMESPACE, TFO_TEMPORAL_TLS_CERT, TFO_TEMPORAL_TLS_KEY,
    TFO_TEMPORAL_TLS_CA, TFO_TEMPORAL_API_KEY.
    """

    address: str | None = None
    namespace: str = "default"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    api_key: str | None = None

    @classmethod
    def from_options(
        cls,
        *,
        address: str | None = None,
        namespace: str | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        tls_ca: Path | None = None,
    ) -> ConnectionSettings:
        env = os.environ

        def path(value: Path | None, name: str) -> Path | None:
            return value or (Path(env[name]) if env.get(name) else None)

        return cls(
            address=address or env.get("TFO_TEMPORAL_ADDRESS") or None,
            namespace=namespace or env.get("TFO_TEMPORAL_NAMESPACE") or "default",
            tls_cert=path(tls_cert, "TFO_TEMPORAL_TLS_CERT"),
            tls_key=path(tls_key, "TFO_TEMPORAL_TLS_KEY"),
            tls_ca=path(tls_ca, "TFO_TEMPORAL_TLS_CA"),
            api_key=env.get("TFO_TEMPORAL_API_KEY") or None,
        )

    @property
    def embedded(self) -> bool:
        return self.address is None


_runtime: Runtime | None = None


def core_logging() -> LoggingConfig:
    """The Temporal SDK core's own log lines, sent through Python logging (to stderr).

    By default the core prints them on stdout, where `--json` prints its one document
    and `tfo mcp` speaks its protocol: a core warning there (seen under load, from the
    activity worker) corrupts both.
    """
    import logging

    from temporalio.runtime import LogForwardingConfig, LoggingConfig, TelemetryFilter

    return LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )


def default_runtime() -> Runtime:
    """The SDK runtime every client of this process shares, unless given another."""
    global _runtime
    if _runtime is None:
        from temporalio.runtime import Runtime, TelemetryConfig

        _runtime = Runtime(telemetry=TelemetryConfig(logging=core_logging()))
    return _runtime


async def connect(
    settings: ConnectionSettings, *, address: str | None = None, runtime: Runtime | None = None
) -> Client:
    """Connect a client with tfo's data converter.

    Raises:
        ConnectionFailedError: the server cannot be reached.
    """
    from temporalio.client import Client, TLSConfig

    from tfo.daemon.codec import codec_from_env, data_converter

    target = address or settings.address
    assert target is not None
    tls: TLSConfig | bool = False
    if settings.tls_cert or settings.tls_ca:
        try:
            tls = TLSConfig(
                client_cert=settings.tls_cert.read_bytes() if settings.tls_cert else None,
                client_private_key=settings.tls_key.read_bytes() if settings.tls_key else None,
                server_root_ca_cert=settings.tls_ca.read_bytes() if settings.tls_ca else None,
            )
        except OSError as exc:
            raise ConnectionFailedError(f"cannot read TLS file: {exc.filename}: {exc.strerror}") from None
    elif settings.api_key:
        tls = True
    converter = data_converter(codec_from_env())
    try:
        return await Client.connect(
            target,
            namespace=settings.namespace,
            tls=tls,
            api_key=settings.api_key,
            data_converter=converter,
            runtime=runtime or default_runtime(),
        )
    except Exception as exc:  # the SDK raises plain RuntimeError for connection failures
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConnectionFailedError(f"cannot connect to Temporal at {target}: {first}") from None
