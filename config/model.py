"""The infra.yaml schema as pydantic models.

The seed's camelCase keys (`dependsOn`, `sourceWorkspace`, `taskQueue`, ...) are the
aliases; their snake_case spellings are accepted too. Unknown keys are rejected.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from tfo.config.artifact_models import ArtifactsConfig
from tfo.config.drift_config import AlertsConfig, DriftSettings, ScheduleConfig
from tfo.config.durations import Duration
from tfo.config.policy_models import MAX_RULES, PolicyRule
from tfo.config.source_models import GitSource

# Names end up in workflow IDs, file paths and terraform argument lists, so only a
# conservative alphabet is allowed: no leading dot or dash, no separators, no spaces.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
VAR_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")


def _check_name(value: str) -> str:
    if not value:
        raise ValueError("name must not be empty")
    if not NAME_PATTERN.fullmatch(value) or ".." in value:
        raise ValueError(
            f"unsafe name {value!r}: use letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (at most 63 characters)"
        )
    return value


def _check_var(value: str) -> str:
    if not VAR_PATTERN.fullmatch(value):
        raise ValueError(f"invalid terraform variable or output name {value!r}")
    return value


SafeName = Annotated[str, AfterValidator(_check_name)]
VarName = Annotated[str, AfterValidator(_check_var)]


class Operation(StrEnum):
    INIT = "init"
    VALIDATE = "validate"
    PLAN = "plan"
    APPLY = "apply"


ALL_OPERATIONS = [Operation.INIT, Operation.VALIDATE, Operation.PLAN, Operation.APPLY]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class InputMapping(_Strict):
    """An upstream output feeding a downstream variable."""

    source_workspace: SafeName
    source_output: VarName
    target_var: VarName


Remediate = Literal["alert", "propose", "auto"]

# A workspace's inline `vars` travel in every request for it: bounded, so that one big
# value cannot stall a run on Temporal's payload limits. Files have no such limit.
VARS_MAX_BYTES = 64 * 1024


def _check_vars_size(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, separators=(",", ":"), default=str))
    if size > VARS_MAX_BYTES:
        largest = max(value, key=lambda k: len(json.dumps(value[k], default=str)))
        raise ValueError(
            f"vars take {size:,} bytes (the limit is {VARS_MAX_BYTES:,}; the largest is {largest!r}): "
            "put large values in a tfvars file"
        )
    return value


class Workspace(_Strict):
    """One terraform root module with its own state."""

    name: SafeName
    kind: Literal["terraform"] = "terraform"
    dir: str = Field(min_length=1)
    tfvars: str | None = None
    vars: Annotated[dict[VarName, Any], AfterValidator(_check_vars_size)] = Field(default_factory=dict)
    depends_on: list[SafeName] = Field(default_factory=list)
    inputs: list[InputMapping] = Field(default_factory=list)
    operations: list[Operation] = Field(default_factory=lambda: list(ALL_OPERATIONS))
    binary: str | None = Field(default=None, min_length=1)
    task_queue: SafeName | None = None
    # What a scheduled check that finds this workspace drifted does: alert only; start
    # an apply run that waits at the approval gate (propose); or one that approves
    # itself when policy passes and nothing is deleted or replaced (auto).
    remediate: Remediate = "alert"


class Tenant(_Strict):
    """A team's workspaces and the task queue their terraform runs on (seed 10.5)."""

    name: SafeName
    workspaces: list[SafeName]
    task_queue: SafeName | None = None


class TerraformSettings(_Strict):
    """Top-level `terraform:` settings; `binary` may be `tofu` for OpenTofu."""

    model_config = ConfigDict(alias_generator=None)

    binary: str = Field(default="terraform", min_length=1)
    parallelism: int = Field(default=4, ge=1, le=256)
    lock_timeout: Duration = timedelta(minutes=5)
    timeout: Duration = timedelta(hours=4)
    heartbeat_timeout: Duration = timedelta(seconds=60)
    approval_timeout: Duration = timedelta(hours=1)
    # How long a workspace waits for a worker on its task queue before it fails.
    worker_timeout: Duration = timedelta(minutes=10)


class InfraConfig(_Strict):
    """The whole infra.yaml document."""

    model_config = ConfigDict(serialize_by_alias=False)

    name: SafeName | None = None
    # What schedules and the drift ledger are keyed by; default: the name plus a
    # fingerprint of the config file's real path (see LoadedConfig.id).
    id: SafeName | None = None
    workspace_root: str = "."
    # Infra code from git at a commit pinned per run; workspace dirs are then relative
    # to the source's path in the repository (see config/source_layout.py).
    source: GitSource | None = None
    # Where saved plans travel between the worker that plans and the one that applies.
    artifacts: ArtifactsConfig | None = None
    task_queue: SafeName = "tfo"
    terraform: TerraformSettings = Field(default_factory=TerraformSettings)
    workspaces: list[Workspace] = Field(min_length=1)
    tenants: list[Tenant] = Field(default_factory=list)
    schedules: list[ScheduleConfig] = Field(default_factory=list)
    alerts: AlertsConfig | None = None
    drift: DriftSettings = Field(default_factory=DriftSettings)
    policies: list[PolicyRule] = Field(default_factory=list, max_length=MAX_RULES)

    def workspace(self, name: str) -> Workspace:
        for ws in self.workspaces:
            if ws.name == name:
                return ws
        raise KeyError(name)


# Keys accepted in each section, for did-you-mean suggestions.
def accepted_keys(model: type[BaseModel]) -> list[str]:
    keys: list[str] = []
    for name, field in model.model_fields.items():
        keys.append(name)
        if field.alias and field.alias != name:
            keys.append(field.alias)
    gen = model.model_config.get("alias_generator")
    if callable(gen):
        keys += [gen(name) for name in model.model_fields]
    return sorted(set(keys))
