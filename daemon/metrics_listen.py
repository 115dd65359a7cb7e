"""Binding the metrics port, with a one-line error when it is taken."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry

from tfo.config.errors import RunError
from tfo.daemon.metrics import MetricsServer


def listen(registry: CollectorRegistry, *, port: int, host: str, ready: Callable[[], bool]) -> MetricsServer:
    """A MetricsServer bound to host:port (not yet serving).

    Bind before starting any worker: a taken port then stops the command before it
    has picked up any work, with exit 1 and one line instead of a crash log.

    Raises:
        RunError: the address is in use or cannot be bound.
    """
    try:
        return MetricsServer(registry, port=port, host=host, ready=ready)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise RunError(
            f"--metrics-port {port}: cannot listen on {host}:{port} ({reason}); "
            "choose another port, or 0 for any free one"
        ) from None
