"""`tfo validate`: check a config without running anything."""

from __future__ import annotations

import json
from pathlib import Path

from tfo.config.errors import ConfigError
from tfo.config.loader import load_config


def validate(config_path: Path, *, as_json: bool) -> int:
    try:
        loaded = load_config(config_path)
    except ConfigError as exc:
        if as_json:
            print(json.dumps({"valid": False, "config": str(config_path), "error": str(exc)}))
            return 1
        raise
    cfg = loaded.config
    if as_json:
        print(
            json.dumps(
                {
                    "valid": True,
                    "config": str(config_path),
                    "name": loaded.name,
                    "workspaces": len(cfg.workspaces),
                    "roots": [n for n in loaded.dag.names if not loaded.dag.dependencies(n)],
                    "max_depth": max(loaded.dag.depth(n) for n in loaded.dag.names),
                    "schedules": len(cfg.schedules or []),
                }
            )
        )
    else:
        depth = max(loaded.dag.depth(n) for n in loaded.dag.names)
        edges = sum(len(loaded.dag.dependencies(n)) for n in loaded.dag.names)
        print(
            f"{config_path}: valid: {len(cfg.workspaces)} workspaces, {edges} dependencies, "
            f"{depth + 1} level{'s' if depth else ''}"
        )
    return 0
