"""The `schedules:` and `alerts:` sections of infra.yaml, for the drift daemon."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from tfo.config.durations import Duration

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_CRON_FIELDS = [
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(_MONTHS)}),
    ("day of week", 0, 7, {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}),
]
_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def check_cron(expr: str) -> str:
    """Validate a standard 5-field cron expression (or an @macro), as Temporal accepts it."""
    text = expr.strip()
    if text in _MACROS:
        return text
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"invalid cron {expr!r}: expected 5 fields (minute hour day month weekday)")
    for value, (label, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for part in value.split(","):
            _check_cron_part(part.lower(), label, low, high, names, expr)
    return text


def _check_cron_part(part: str, label: str, low: int, high: int, names: dict[str, int], expr: str) -> None:
    base, _, step = part.partition("/")
    if step and (not step.isdigit() or int(step) == 0):
        raise ValueError(f"invalid cron {expr!r}: bad step {step!r} in {label}")
    if base in ("*", "?"):
        return
    bounds = base.split("-")
    if len(bounds) > 2:
        raise ValueError(f"invalid cron {expr!r}: bad range {base!r} in {label}")
    for bound in bounds:
        number = names.get(bound, int(bound) if bound.isdigit() else None)
        if number is None or not low <= number <= high:
            raise ValueError(f"invalid cron {expr!r}: {bound!r} is not a valid {label} ({low}-{high})")


def _check_name(value: str) -> str:
    if not _NAME.fullmatch(value) or ".." in value:
        raise ValueError(f"unsafe name {value!r}: use letters, digits, '_', '-' or '.'")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleConfig(_Strict):
    """A periodic plan-only drift check of some or all workspaces."""

    name: Annotated[str, AfterValidator(_check_name)]
    cron: Annotated[str, AfterValidator(check_cron)] | None = None
    every: Duration | None = None
    workspaces: list[Annotated[str, AfterValidator(_check_name)]] | None = None
    jitter: Duration | None = None
    paused: bool = False

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleConfig:
        if (self.cron is None) == (self.every is None):
            raise ValueError("set exactly one of 'cron' or 'every'")
        if self.every is not None and self.every < timedelta(seconds=1):
            raise ValueError("'every' must be at least 1s")
        return self


class AlertEvent(StrEnum):
    DRIFT = "drift"
    CHANGED = "changed"
    RESOLVED = "resolved"
    FAILURE = "failure"
    PENDING = "pending"
    CHECK_FAILED = "check_failed"
    POLICY_VIOLATION = "policy_violation"
    REMEDIATION_PROPOSED = "remediation_proposed"
    REMEDIATION_APPLIED = "remediation_applied"
    REMEDIATION_FAILED = "remediation_failed"


_ATTRIBUTE_PATH = re.compile(r"[A-Za-z0-9_*?\[\]-]+(\.[A-Za-z0-9_*?\[\]-]+)*")


def _check_glob(value: str) -> str:
    if not value.strip() or any(ch in value for ch in "\n\r\t"):
        raise ValueError(f"invalid pattern {value!r}")
    return value


def _check_attribute_path(value: str) -> str:
    if not _ATTRIBUTE_PATH.fullmatch(value):
        raise ValueError(f"invalid attribute path {value!r}: use dotted names and list indexes, e.g. tags.owner")
    return value


Glob = Annotated[str, AfterValidator(_check_glob)]


class IgnoreRule(_Strict):
    """Changes that a drift check does not count: a resource, or some of its attributes.

    Only updates are ever ignored: a rule never hides a create, a delete or a replace.
    """

    workspaces: list[Glob] = Field(default_factory=lambda: ["*"], min_length=1)
    resources: list[Glob] = Field(min_length=1)
    attributes: list[Annotated[str, AfterValidator(_check_attribute_path)]] | None = Field(default=None, min_length=1)
    reason: str = Field(default="ignored by rule", min_length=1, max_length=200)


class DriftSettings(_Strict):
    """The `drift:` section: noise rules for drift checks."""

    ignore: list[IgnoreRule] = Field(default_factory=list, max_length=500)


class AlertsConfig(_Strict):
    """Where drift alerts go: apprise URLs; `${ENV_VAR}` expands when an alert is sent."""

    urls: list[str] = Field(min_length=1)
    on: list[AlertEvent] = Field(default_factory=lambda: list(AlertEvent))
    remind_every: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _yaml_on_key(cls, data: Any) -> Any:
        # YAML 1.1 (PyYAML) reads an unquoted `on:` key as the boolean True.
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if key is True else key): value for key, value in data.items()}
        return data


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(url: str, env: dict[str, str]) -> str:
    """Replace `${NAME}` with the environment's value.

    Raises:
        KeyError: a referenced variable is not set (its name is the key).
    """
    return _ENV_REF.sub(lambda m: env[m.group(1)], url)


def env_names(url: str) -> list[str]:
    return _ENV_REF.findall(url)
