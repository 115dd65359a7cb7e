"""What a plan says: resource changes with attribute-level diffs, outputs, checks,
the baseline fingerprint and the changes that noise rules ignore.

These models travel in workflow payloads, so every list here is bounded by the
code that fills it (see the DIFF_* limits and activities/plan_summary.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializationInfo, SerializerFunctionWrapHandler, model_serializer

from tfo.config.policy_models import PolicyVerdict

SENSITIVE = "(sensitive)"
UNKNOWN_AFTER_APPLY = "(known after apply)"

# Bounds of an attribute-level diff in any payload; while a run's saved plan exists,
# `tfo show` prints terraform's full plan.
DIFF_MAX_ATTRIBUTES = 50
DIFF_MAX_VALUE_CHARS = 200
DIFF_MAX_WORKSPACE_BYTES = 32 * 1024
# Failed checks and ignored changes listed per workspace.
MAX_CHECKS = 20
MAX_IGNORED = 50


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


_DEFAULTS: dict[type, dict[str, Any]] = {}


def _json_defaults(model: type[BaseModel]) -> dict[str, Any]:
    """Each field's default as it appears in JSON, computed once per model class."""
    if model not in _DEFAULTS:
        defaults = {}
        for name, field in model.model_fields.items():
            if field.is_required():
                continue
            default = field.get_default(call_default_factory=True)
            defaults[name] = default.model_dump(mode="json") if isinstance(default, BaseModel) else default
        _DEFAULTS[model] = defaults
    return _DEFAULTS[model]


_MISSING = object()


class OmitDefaults(_Payload):
    """A payload whose JSON (every Temporal payload) leaves out fields at their defaults.

    Reports of thousands of mostly unchanged workspaces then travel in a fraction of
    the bytes; reading them back restores the defaults. Python dumps are unchanged.
    """

    @model_serializer(mode="wrap")
    def _omit_defaults(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        if not info.mode_is_json() or not isinstance(data, dict):
            return data
        defaults = _json_defaults(type(self))
        return {key: value for key, value in data.items() if defaults.get(key, _MISSING) != value}


# How diffs show an action and a value, in the approval gate, `tfo show` and alerts.
ACTION_SYMBOLS = {"create": "+", "delete": "-", "update": "~", "replace": "-/+"}


def shown_value(value: Any) -> str:
    """A diff value as text: compact JSON, but placeholders bare, as terraform prints them."""
    if isinstance(value, str) and value in (SENSITIVE, UNKNOWN_AFTER_APPLY):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# Output values travel by value only while they are small: one value up to
# OUTPUT_INLINE_BYTES, a workspace's values up to OUTPUTS_INLINE_BYTES together. The
# rest go by reference, as sensitive ones do: a downstream activity reads them from
# the upstream's state. One value over OUTPUT_MAX_BYTES fails its workspace. A run
# report shows values up to OUTPUT_SHOWN_BYTES; `terraform output` has the others.
OUTPUT_INLINE_BYTES = 64 * 1024
OUTPUTS_INLINE_BYTES = 128 * 1024
OUTPUT_MAX_BYTES = 1024 * 1024
OUTPUT_SHOWN_BYTES = 1024


class OutputValue(_Payload):
    """A terraform output. Sensitive values are never carried: `value` is None; nor are
    large ones (`size` set): both are read from the upstream's state when consumed."""

    value: Any = None
    sensitive: bool = False
    size: int | None = None  # set when the value stays behind (too large to carry)

    @property
    def by_reference(self) -> bool:
        return self.sensitive or self.size is not None

    def display(self) -> Any:
        if self.sensitive:
            return SENSITIVE
        if self.size is not None:
            return f"({self.size:,} bytes: terraform output)"
        return self.value


class ChangeCounts(_Payload):
    create: int = 0
    update: int = 0
    delete: int = 0
    replace: int = 0

    def total(self) -> int:
        return self.create + self.update + self.delete + self.replace

    def destructive(self) -> int:
        return self.delete + self.replace


class AttributeChange(_Payload):
    """One attribute that differs: a dotted path (`ingress.0.cidr_blocks.1`) and both sides.

    Values are masked (`(sensitive)`, `(known after apply)`) and cut to
    DIFF_MAX_VALUE_CHARS characters; a cut string ends with `...`.
    """

    path: str
    before: Any = None
    after: Any = None


def diff_bytes(attributes: Iterable[AttributeChange]) -> int:
    """About how many bytes these attribute diffs take: what the drift ledger's diff
    budgets count (a record's, a shard's)."""
    return sum(len(a.path) + len(str(a.before)) + len(str(a.after)) + 32 for a in attributes)


class ResourceChange(_Payload):
    """A resource that changes (or changed outside terraform), with its bounded diff.

    `attributes` lists the attributes that differ; for a create or delete it is a
    bounded summary or empty. `replace_paths` names what forces a replacement.
    `truncated` says attributes were left out (`tfo show` prints terraform's full plan
    while the run's saved plan exists).
    """

    address: str
    action: str
    attributes: list[AttributeChange] = Field(default_factory=list)
    replace_paths: list[str] = Field(default_factory=list)
    truncated: bool = False

    def public_json(self) -> dict[str, Any]:
        """The `--json` shape (and MCP's): every key always present."""
        return {
            "address": self.address,
            "action": self.action,
            "attributes": [a.model_dump() for a in self.attributes],
            "replace_paths": self.replace_paths,
            "truncated": self.truncated,
        }


class Baseline(_Payload):
    """Short digests of what tfo controls in a workspace, at the time of a plan.

    The drift ledger keeps the one of the last clean check or successful apply; a
    later plan whose changes come with different digests is an unapplied change on
    tfo's side (`pending`), not drift. `state` digests the resource addresses in
    state: it tells a state edit from other drift. Sensitive inputs are digested by
    reference, never by value.
    """

    code: str = ""
    variables: str = ""
    inputs: str = ""
    versions: str = ""
    state: str = ""

    def changed_since(self, earlier: Baseline) -> list[str]:
        """The tfo-side parts that differ from `earlier`, as drift causes."""
        parts = ("code", "variables", "inputs", "versions")
        return [part for part in parts if getattr(earlier, part) and getattr(self, part) != getattr(earlier, part)]


class CheckResult(_Payload):
    """A terraform `check` block or pre/postcondition that did not pass."""

    address: str
    status: str
    messages: list[str] = Field(default_factory=list)


class IgnoredChange(_Payload):
    """A change that a `drift.ignore` rule (or terraform's relevance) silences."""

    address: str
    reason: str
    drift: bool = False


class PlanSummary(_Payload):
    """What a saved plan would do, parsed from `terraform show -json`."""

    changes: ChangeCounts = Field(default_factory=ChangeCounts)
    resources: list[ResourceChange] = Field(default_factory=list)
    output_changes: list[str] = Field(default_factory=list)
    drift: list[ResourceChange] = Field(default_factory=list)
    # Resources replaced only because they are tainted (a create or provisioner failed).
    tainted: list[str] = Field(default_factory=list)
    outputs: dict[str, OutputValue] = Field(default_factory=dict)
    terraform_version: str = ""
    baseline: Baseline | None = None
    checks: list[CheckResult] = Field(default_factory=list)
    ignored: list[IgnoredChange] = Field(default_factory=list)
    diff_truncated: bool = False
    # `policies:` verdicts on this plan, at most MAX_VERDICTS, denials first.
    policy: list[PolicyVerdict] = Field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return self.changes.total() > 0 or bool(self.output_changes)
