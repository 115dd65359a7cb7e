"""tfo: a Temporal Terraform Orchestrator.

The repository keeps the design card's top-level folders (config/, activities/,
workflows/, daemon/); they install as tfo.config, tfo.activities, tfo.workflows
and tfo.daemon, so that tfo never puts a generic name into site-packages.
"""

from __future__ import annotations

# `__version__` of a source tree that was never installed.
UNKNOWN_VERSION = "0+unknown"


def __getattr__(name: str) -> str:
    # `__version__` reads the package metadata on first use only: importing
    # importlib.metadata costs every tfo command tens of milliseconds.
    if name != "__version__":
        raise AttributeError(f"module 'tfo' has no attribute {name!r}")
    from importlib import metadata

    try:
        return metadata.version("tfo-orchestrator")
    except metadata.PackageNotFoundError:
        return UNKNOWN_VERSION
