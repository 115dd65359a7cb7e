"""A pydantic validation error of infra.yaml as one line that names the culprit:
where it is (`workspaces[2] (subnets).dependsOn[0]`), what is wrong, and the line."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from tfo.config.artifact_models import ArtifactsConfig
from tfo.config.drift_config import AlertsConfig, ScheduleConfig
from tfo.config.errors import ConfigError
from tfo.config.model import InfraConfig, InputMapping, Tenant, TerraformSettings, Workspace, accepted_keys
from tfo.config.policy_models import PolicyRule
from tfo.config.source_models import GitSource
from tfo.config.yaml_source import Loc, YamlDocument

_SECTION_MODELS: dict[str, type[BaseModel]] = {
    "workspaces": Workspace,
    "inputs": InputMapping,
    "terraform": TerraformSettings,
    "schedules": ScheduleConfig,
    "alerts": AlertsConfig,
    "tenants": Tenant,
    "policies": PolicyRule,
    "source": GitSource,
    "artifacts": ArtifactsConfig,
}


def kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _describe(loc: Loc, data: Any) -> str:
    """`workspaces[2] (subnets).dependsOn[0]` from a pydantic location."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            named = loc[0] in ("workspaces", "tenants", "policies")
            if isinstance(node, dict) and isinstance(node.get("name"), str) and named:
                out += f" ({node['name']})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "document"


def from_validation_error(exc: ValidationError, doc: YamlDocument, source: str) -> ConfigError:
    errors = exc.errors()
    # A misspelt key also shows up as a missing one; the misspelling is the culprit.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc: Loc = tuple(p for p in first["loc"] if not isinstance(p, str) or not p.startswith("function-"))
    where = _describe(loc, doc.data)
    if first["type"] == "extra_forbidden":
        key = str(loc[-1])
        section = next((str(p) for p in reversed(loc[:-1]) if isinstance(p, str)), "")
        model = _SECTION_MODELS.get(section, InfraConfig)
        hint = _did_you_mean(key, accepted_keys(model))
        message = f"{where}: unknown key {key!r}"
        if hint:
            message += f" (did you mean {hint!r}?)"
    elif first["type"] == "missing":
        message = f"{where}: required key is missing"
    else:
        message = f"{where}: {first['msg'].removeprefix('Value error, ')}"
        value = first.get("input")
        choice = first["type"] in ("enum", "literal_error")
        if choice and isinstance(value, str) and len(value) <= 64:
            message += f" (got {value!r})"
        elif first["type"].endswith("_type") or first["type"] == "literal_error":
            message += f" (got {kind(value)})"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return ConfigError(message, path=source, line=doc.line_of(loc))


def _did_you_mean(key: str, accepted: list[str]) -> str | None:
    """The accepted key closest to `key`, ignoring case and underscores, spelt in the
    user's style: `dependson` suggests `dependsOn`, `depends_onn` suggests `depends_on`."""
    spellings: dict[str, list[str]] = {}
    for candidate in accepted:
        spellings.setdefault(candidate.replace("_", "").lower(), []).append(candidate)
    match = difflib.get_close_matches(key.replace("_", "").lower(), list(spellings), n=1)
    if not match:
        return None
    options = spellings[match[0]]
    snake = "_" in key
    return next((o for o in options if ("_" in o) == snake), options[0])
