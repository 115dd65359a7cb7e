"""Where tfo keeps a config's state: `.tfo/` next to it, unless told otherwise.

Kept apart from `daemon.runs` so that a command can find its state dir, and start
the embedded server there, before it imports the Temporal SDK.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_state_dir(config_path: Path, explicit: Path | None = None) -> Path:
    if explicit:
        return explicit.resolve()
    if os.environ.get("TFO_STATE_DIR"):
        return Path(os.environ["TFO_STATE_DIR"]).resolve()
    return (config_path.resolve().parent / ".tfo").resolve()
