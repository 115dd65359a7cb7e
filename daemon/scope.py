"""What a command works on: its state dir and its selected workspaces.

Kept apart from `daemon.runs` and free of the Temporal SDK, so that a command can
check its input and start the embedded server in its state dir before it pays for
importing the SDK (see `daemon.session.ServerStart`).
"""

from __future__ import annotations

import os
from pathlib import Path

from tfo.config.errors import ConfigError
from tfo.config.loader import LoadedConfig


def default_state_dir(config_path: Path, explicit: Path | None = None) -> Path:
    if explicit:
        return explicit.resolve()
    if os.environ.get("TFO_STATE_DIR"):
        return Path(os.environ["TFO_STATE_DIR"]).resolve()
    return (config_path.resolve().parent / ".tfo").resolve()


def select(loaded: LoadedConfig, workspaces: list[str]) -> list[str]:
    """The selected workspaces plus everything they depend on.

    Raises:
        ConfigError: a selected workspace does not exist.
    """
    known = set(loaded.dag.names)
    for name in workspaces:
        if name not in known:
            import difflib

            hint = difflib.get_close_matches(name, sorted(known), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"-w {name}: no such workspace{extra}", path=str(loaded.path))
    return loaded.dag.closure(workspaces) if workspaces else loaded.dag.names
