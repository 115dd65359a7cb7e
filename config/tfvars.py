"""Reading a workspace's tfvars file: HCL (`.tfvars`) or JSON (`.tfvars.json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tfo.config.errors import ConfigError
from tfo.config.files import read_limited

# The HCL parser (python-hcl2, on lark) takes seconds per 100 KiB of values, so HCL
# tfvars are kept small; JSON parses fast. Larger inputs belong in a .tfvars.json file.
MAX_HCL_BYTES = 256 * 1024
MAX_JSON_BYTES = 5 * 1024 * 1024


def read_tfvars(path: Path) -> dict[str, Any]:
    """Parse a tfvars file into plain values.

    Raises:
        ConfigError: the file is missing or cannot be parsed; names the file and line.
    """
    is_json = path.name.endswith(".json")
    raw = read_limited(path, limit=MAX_JSON_BYTES if is_json else MAX_HCL_BYTES, what="tfvars file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"tfvars file is not valid UTF-8 (byte {exc.start})", path=str(path)) from None
    try:
        return _read_json(text, path) if is_json else _read_hcl(text, path)
    except RecursionError:
        raise ConfigError("tfvars file nests values too deeply", path=str(path)) from None


def _read_json(text: str, path: Path) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON in tfvars: {exc.msg}", path=str(path), line=exc.lineno) from None
    if not isinstance(data, dict):
        raise ConfigError("a .tfvars.json file must hold a JSON object", path=str(path))
    return data


def _read_hcl(text: str, path: Path) -> dict[str, Any]:
    import hcl2  # 76 ms to import: only on the paths that read HCL
    from lark.exceptions import LarkError, UnexpectedInput

    options = hcl2.SerializationOptions(
        strip_string_quotes=True,
        explicit_blocks=False,
        preserve_heredocs=False,
        with_comments=False,
    )
    try:
        data = hcl2.loads(text, serialization_options=options)
    except UnexpectedInput as exc:
        raise ConfigError(
            "HCL syntax error in tfvars", path=str(path), line=getattr(exc, "line", None)
        ) from None
    except (LarkError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot parse tfvars: {first}", path=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError("a tfvars file must hold variable assignments", path=str(path))
    return dict(data)
