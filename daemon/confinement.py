"""Keeping an MCP agent inside its config roots.

Every path an agent hands tfo (a config file, and the workspace `dir`, `tfvars` and
`workspace_root` a config names) must resolve, after symlinks, inside one of the
roots the operator passed to `tfo mcp --config-root`. The check runs on resolved
paths with `Path.is_relative_to`, never on string prefixes, so `/srv/infra-evil` is
not inside `/srv/infra`, and a symlink inside a root that points out is refused.

A refusal says what was refused and why, but never what lies outside: nothing is
read from an outside path, and the resolved target of a symlink is not shown.

Inline configs (a mapping or YAML text instead of a file) go through the same YAML
parser and validator as files, under a virtual path inside the first root. They
are also held to two rules of their own, because an agent writes them rather than
a human: the terraform binary must be `terraform` or `tofu`, and they may not set
`alerts` (which would send run results to any URL). Their runs are named
`inline-NAME`, so they never mix with a file config's runs or drift ledger.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from tfo.config.errors import TfoError
from tfo.config.loader import LoadedConfig, validate_document
from tfo.config.model import InfraConfig
from tfo.config.yaml_source import Loc, YamlDocument, parse_yaml, read_yaml

MAX_PATH = 4096
INLINE_FILENAME = "<inline config>"
INLINE_PREFIX = "inline-"
ALLOWED_BINARIES = frozenset({"terraform", "tofu"})
_SHOWN = 160


@dataclass(frozen=True)
class InlineLimits:
    """How large an agent's inline config may be (`tfo mcp --max-inline-workspaces`,
    `--max-inline-bytes`): each workspace is a terraform run on this host, and the
    config travels in every run's payload."""

    max_workspaces: int = 50
    max_bytes: int = 64 * 1024


class ConfinementError(TfoError):
    """A path or inline config reaches outside the config roots, or breaks an inline rule."""


def shown(value: str) -> str:
    """The caller's own input, quoted on one line and cut short, for an error message."""
    text = value if len(value) <= _SHOWN else value[:_SHOWN] + "..."
    return repr(text)


@dataclass(frozen=True)
class ConfigRoots:
    """The directories an agent may use configs and workspaces from (resolved, existing)."""

    roots: tuple[Path, ...]

    @classmethod
    def from_paths(cls, paths: Sequence[Path]) -> ConfigRoots:
        """Resolve the operator's `--config-root` options.

        Raises:
            ConfinementError: one is missing or not a directory, or none is given.
        """
        if not paths:
            raise ConfinementError("at least one --config-root is needed")
        found: list[Path] = []
        for path in paths:
            if "\0" in str(path):
                raise ConfinementError("--config-root contains a NUL byte")
            try:
                real = path.expanduser().resolve(strict=True)
            except (OSError, RuntimeError):
                raise ConfinementError(f"--config-root {str(path)!r} does not exist") from None
            if not real.is_dir():
                raise ConfinementError(f"--config-root {str(path)!r} is not a directory")
            if real not in found:
                found.append(real)
        return cls(tuple(found))

    @property
    def primary(self) -> Path:
        return self.roots[0]

    def describe(self) -> str:
        return ", ".join(str(r) for r in self.roots)

    def holds(self, path: Path) -> bool:
        """Whether an already resolved path lies inside a root."""
        return any(path.is_relative_to(root) for root in self.roots)

    def holds_recorded(self, recorded: str) -> bool:
        """Whether a path recorded by tfo itself (absolute, resolved when it was recorded)
        lies inside a root. Purely lexical: the file may be gone by now."""
        if "\0" in recorded or not os.path.isabs(recorded):
            return False
        return self.holds(Path(os.path.normpath(recorded)))

    def resolve(self, raw: str, *, what: str = "config_path") -> Path:
        """The real path of `raw`, which must lie inside a root.

        A relative path is taken relative to each root in turn; the first one under
        which it exists wins (else the first one that stays inside a root).

        Raises:
            ConfinementError: `raw` is empty, too long, holds a NUL byte, or resolves
                (after symlinks) outside every root.
        """
        check_text(raw, what)
        given = Path(raw).expanduser() if raw.startswith("~") else Path(raw)
        candidates = [given] if given.is_absolute() else [root / given for root in self.roots]
        inside: list[Path] = []
        for candidate in candidates:
            try:
                real = candidate.resolve()
            except (OSError, RuntimeError, ValueError):
                raise ConfinementError(f"{what} {shown(raw)} cannot be resolved") from None
            if self.holds(real):
                inside.append(real)
        if not inside:
            raise ConfinementError(
                f"{what} {shown(raw)} is outside the config roots ({self.describe()}); "
                "only configs inside them can be used"
            )
        return next((p for p in inside if p.exists()), inside[0])


def check_text(raw: str, what: str) -> None:
    if not isinstance(raw, str):
        raise ConfinementError(f"{what} must be a string")
    if "\0" in raw:
        raise ConfinementError(f"{what} contains a NUL byte")
    if not raw.strip():
        raise ConfinementError(f"{what} is empty")
    if len(raw) > MAX_PATH:
        raise ConfinementError(f"{what} is longer than {MAX_PATH} characters")


def load_file(roots: ConfigRoots, raw_path: str) -> LoadedConfig:
    """Load and validate a config file that must lie inside the roots.

    A directory means its `infra.yaml`.

    Raises:
        ConfinementError: the file, or a path it names, is outside the roots.
        ConfigError: the config is invalid.
    """
    path = roots.resolve(raw_path)
    if path.is_dir():
        path = roots.resolve(str(path / "infra.yaml"))
    doc = read_yaml(path)
    return _validate(roots, doc, path, inline=False)


def load_inline(
    roots: ConfigRoots, config: Mapping[str, Any] | str, limits: InlineLimits | None = None
) -> LoadedConfig:
    """Validate an inline config exactly like a file at `<first root>/<inline config>`.

    Relative paths in it are relative to the first root.

    Raises:
        ConfinementError: a path it names is outside the roots, or it breaks an inline rule.
        ConfigError: the config is invalid.
    """
    limits = limits or InlineLimits()
    virtual = roots.primary / INLINE_FILENAME
    if isinstance(config, str):
        raw = config.encode("utf-8", errors="replace")
    elif isinstance(config, Mapping):
        import json

        import yaml

        try:  # a cheap size check before the (slower) YAML dump
            measured = len(json.dumps(config, default=str).encode())
        except (TypeError, ValueError, RecursionError):
            raise ConfinementError("the inline config cannot be read as JSON data") from None
        _check_size(measured, limits)
        try:
            raw = yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True).encode()
        except RecursionError:
            raise ConfinementError("the inline config is nested too deeply") from None
        except yaml.YAMLError as exc:
            raise ConfinementError(f"the inline config cannot be read as YAML: {type(exc).__name__}") from None
    else:
        raise ConfinementError("config must be a mapping (or YAML text)")
    if "\0" in raw.decode("utf-8", errors="replace"):
        raise ConfinementError("the inline config contains a NUL byte")
    _check_size(len(raw), limits)
    doc = parse_yaml(raw, source=str(virtual))
    workspaces = doc.data.get("workspaces") if isinstance(doc.data, dict) else None
    if isinstance(workspaces, list) and len(workspaces) > limits.max_workspaces:
        raise ConfinementError(
            f"the inline config has {len(workspaces)} workspaces; this server allows at most "
            f"{limits.max_workspaces} (tfo mcp --max-inline-workspaces): use a config file for larger stacks"
        )
    loaded = _validate(roots, doc, virtual, inline=True)
    name = _inline_name(loaded.config.name or roots.primary.name)
    return dataclasses.replace(loaded, config=loaded.config.model_copy(update={"name": name}))


def _check_size(size: int, limits: InlineLimits) -> None:
    if size > limits.max_bytes:
        raise ConfinementError(
            f"the inline config is {size} bytes; this server allows at most {limits.max_bytes} "
            "(tfo mcp --max-inline-bytes): use a config file for larger stacks"
        )


def _inline_name(base: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", base).replace("..", "-").strip(".-") or "config"
    return (INLINE_PREFIX + cleaned)[:63]


def _validate(roots: ConfigRoots, doc: YamlDocument, path: Path, *, inline: bool) -> LoadedConfig:
    """Confine every path the document names, then validate it like any config.

    The paths are checked before `validate_document` runs, because validation reads
    the tfvars files and looks at the directories: nothing outside may be touched.
    """
    if isinstance(doc.data, dict):
        try:
            cfg = InfraConfig.model_validate(doc.data)
        except ValidationError:
            cfg = None  # validate_document reports it with file and line
        if cfg is not None:
            _confine_paths(roots, cfg, doc, path)
            if inline:
                _check_inline_rules(cfg, doc, path)
    return validate_document(doc, path)


def _confine_paths(roots: ConfigRoots, cfg: InfraConfig, doc: YamlDocument, path: Path) -> None:
    base = path.parent / cfg.workspace_root
    _confine(roots, base, doc, path, ("workspace_root",), f"workspace_root {shown(cfg.workspace_root)}")
    for i, ws in enumerate(cfg.workspaces):
        label = f"workspace {ws.name!r}"
        _confine(roots, base / ws.dir, doc, path, ("workspaces", i, "dir"), f"{label}: dir {shown(ws.dir)}")
        if ws.tfvars:
            loc: Loc = ("workspaces", i, "tfvars")
            _confine(roots, base / ws.tfvars, doc, path, loc, f"{label}: tfvars {shown(ws.tfvars)}")


def _confine(roots: ConfigRoots, target: Path, doc: YamlDocument, path: Path, loc: Loc, label: str) -> None:
    if "\0" in str(target):
        raise ConfinementError(f"{_where(doc, path, loc)}: {label} contains a NUL byte")
    try:
        real = target.resolve()
    except (OSError, RuntimeError, ValueError):
        raise ConfinementError(f"{_where(doc, path, loc)}: {label} cannot be resolved") from None
    if not roots.holds(real):
        raise ConfinementError(f"{_where(doc, path, loc)}: {label} is outside the config roots ({roots.describe()})")


def _check_inline_rules(cfg: InfraConfig, doc: YamlDocument, path: Path) -> None:
    binaries: list[tuple[Loc, str]] = [(("terraform", "binary"), cfg.terraform.binary)]
    binaries += [(("workspaces", i, "binary"), ws.binary) for i, ws in enumerate(cfg.workspaces) if ws.binary]
    for loc, binary in binaries:
        name = PurePosixPath(binary).name
        if "\0" in binary or name not in ALLOWED_BINARIES:
            raise ConfinementError(
                f"{_where(doc, path, loc)}: an inline config may only run terraform or tofu, not {shown(binary)}"
            )
    if cfg.alerts is not None:
        raise ConfinementError(
            f"{_where(doc, path, ('alerts',))}: an inline config may not set alerts; put them in a config file"
        )


def _where(doc: YamlDocument, path: Path, loc: Loc) -> str:
    line = doc.line_of(loc)
    return f"{path}:{line}" if line is not None else str(path)
