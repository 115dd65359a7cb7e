"""The `policies:` section of infra.yaml and the verdicts a plan gets from it.

A rule is a CEL expression over one resource change of a plan (`resource`, an item
of terraform's `resource_changes`), the workspace (`workspace.name`, `workspace.dir`)
and the run (`run.id`, `run.mode`, `run.trigger`). A change for which `deny` is true
(or fails to evaluate) violates the rule. In an apply run a violated rule that
`applies_to` apply denies: that workspace is not applied. Everywhere else (plan runs,
scheduled checks, rules with `applies_to: [plan]`) a violation is a warning.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tfo.config.policy_compile import MAX_EXPRESSION_CHARS, MAX_VERDICTS, cut, effect_of

MAX_RULES = 100
MAX_MESSAGE_CHARS = 300

Stage = Literal["plan", "apply"]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def _check_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"unsafe policy name {value!r}: use letters, digits, '_', '-' or '.' (at most 63)")
    return value


def _apply_only() -> list[Stage]:
    return ["apply"]


class PolicyRule(BaseModel):
    """One rule of `policies:`."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, AfterValidator(_check_name)]
    deny: str = Field(min_length=1, max_length=MAX_EXPRESSION_CHARS)
    message: str = Field(default="", max_length=MAX_MESSAGE_CHARS)
    applies_to: list[Stage] = Field(default_factory=_apply_only, min_length=1)

    def effect(self, mode: str) -> Literal["deny", "warn"]:
        return "deny" if effect_of(self.applies_to, mode) == "deny" else "warn"


class PolicyVerdict(BaseModel):
    """A resource change that violates a rule, or on which the rule failed to evaluate."""

    model_config = ConfigDict(extra="ignore")

    rule: str
    message: str = ""
    address: str = ""
    effect: Literal["deny", "warn"] = "warn"
    error: str | None = None

    def text(self) -> str:
        where = f" ({self.address})" if self.address else ""
        why = self.message or "denied by policy"
        if self.error:
            why = f"{why}; the rule could not be evaluated: {self.error}"
        return f"policy {self.rule}: {why}{where}"


def bounded(verdicts: list[PolicyVerdict]) -> list[PolicyVerdict]:
    """At most MAX_VERDICTS verdicts with short texts.

    Each rule's first verdict comes first, denials before warnings (so a cut never
    hides that a plan is denied, nor which rules it violates), then the others.
    """
    firsts: dict[str, PolicyVerdict] = {}
    for v in verdicts:
        firsts.setdefault(v.rule, v)
    head = list(firsts.values())
    rest = [v for v in verdicts if firsts[v.rule] is not v]
    ordered = sorted(head, key=lambda v: v.effect != "deny") + sorted(rest, key=lambda v: v.effect != "deny")
    return [
        v.model_copy(
            update={
                "message": cut(v.message),
                "address": cut(v.address),
                "error": cut(v.error) if v.error else None,
            }
        )
        for v in ordered[:MAX_VERDICTS]
    ]


def denials(verdicts: list[PolicyVerdict]) -> list[PolicyVerdict]:
    return [v for v in verdicts if v.effect == "deny"]


def denial_text(denied: list[PolicyVerdict]) -> str:
    """The one-line error of a workspace that policy keeps from being applied."""
    shown = "; ".join(f"denied by {v.text()}" for v in denied[:3])
    more = f" (and {len(denied) - 3} more)" if len(denied) > 3 else ""
    return shown + more
