"""Evaluating `policies:` over a plan's resource changes, in a process of its own.

`python -m tfo.activities.policy_eval` reads one JSON document on stdin
(`rules`, `changes`, `workspace`, `run`) and prints one JSON line per rule, in
order, as soon as that rule is done. The CEL engine holds the GIL while it
evaluates, so a rule that never ends cannot be interrupted in the worker: here the
parent kills the process at its deadline, and the lines already printed say which
rules finished. The process caps its own memory too, and imports no pydantic or
yaml, so it starts in about 0.1 s.
"""

from __future__ import annotations

import json
import resource
import sys
from typing import Any

from tfo.config.policy_compile import MAX_VERDICTS, PolicyCompileError, compile_expression, cut, effect_of

MEMORY_LIMIT = 2 * 1024**3


def changed_resources(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The items of `resource_changes` that change something (no-ops are not judged)."""
    changes = plan.get("resource_changes") or []
    return [c for c in changes if isinstance(c, dict) and (c.get("change") or {}).get("actions") != ["no-op"]]


def evaluate_rule(
    rule: dict[str, Any], changes: list[dict[str, Any]], *, workspace: dict[str, Any], run: dict[str, Any]
) -> list[dict[str, Any]]:
    """The verdicts of one rule (a PolicyRule as a dict) over every change: violations
    and evaluation errors, at most MAX_VERDICTS."""
    effect = effect_of(rule.get("applies_to") or ["apply"], str(run.get("mode", "plan")))
    message = str(rule.get("message") or "")

    def verdict(address: str, error: str | None = None) -> dict[str, Any]:
        return {"rule": rule["name"], "message": message, "address": cut(address), "effect": effect, "error": error}

    try:
        program = compile_expression(str(rule["deny"]))
    except PolicyCompileError as exc:
        return [verdict("", str(exc))]
    verdicts: list[dict[str, Any]] = []
    for change in changes:
        address = str(change.get("address", ""))
        try:
            result = program.execute({"resource": change, "workspace": workspace, "run": run})
        except Exception as exc:
            verdicts.append(verdict(address, _engine_error(exc)))
        else:
            if result is True:
                verdicts.append(verdict(address))
            elif result is not False:
                verdicts.append(verdict(address, f"the rule gave {type(result).__name__}, not a boolean"))
        if len(verdicts) >= MAX_VERDICTS:
            break
    return verdicts


def _engine_error(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    if isinstance(exc, KeyError):
        return f"no such key {text}"
    return cut(f"{type(exc).__name__}: {text}")


def main() -> int:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    request = json.load(sys.stdin)
    for rule in request["rules"]:
        verdicts = evaluate_rule(rule, request["changes"], workspace=request["workspace"], run=request["run"])
        sys.stdout.write(json.dumps(verdicts) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
