"""tfo: a Temporal Terraform Orchestrator.

The repository keeps the design card's top-level folders (config/, activities/,
workflows/, daemon/); they install as tfo.config, tfo.activities, tfo.workflows
and tfo.daemon, so that tfo never puts a generic name into site-packages.
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("tfo-orchestrator")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
