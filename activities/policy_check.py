"""Checking a plan against the config's `policies:` with a deadline (see policy_eval).

Every rule ends with a verdict: one that did not finish in time, or whose process
died (for example at its memory cap), is a violation with an error, never a pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from datetime import timedelta
from typing import Any

from tfo.activities.policy_eval import changed_resources
from tfo.config.payloads import PlanRequest
from tfo.config.policy_models import PolicyRule, PolicyVerdict, bounded

# The time all rules together may take on one workspace's plan.
POLICY_TIMEOUT = timedelta(seconds=10)
_LINE_LIMIT = 4 * 1024 * 1024


async def check_plan(
    req: PlanRequest, plan: dict[str, Any], *, timeout: timedelta = POLICY_TIMEOUT
) -> list[PolicyVerdict]:
    """The verdicts of the request's rules on a plan (`terraform show -json`)."""
    if not req.policies:
        return []
    ws = req.workspace
    request = {
        "rules": [r.model_dump() for r in req.policies],
        "changes": changed_resources(plan),
        "workspace": {"name": ws.name, "dir": ws.dir},
        "run": {"id": req.run_id, "mode": req.mode, "trigger": req.trigger},
    }
    return await evaluate(req.policies, request, mode=req.mode, timeout=timeout)


async def evaluate(
    rules: list[PolicyRule], request: dict[str, Any], *, mode: str, timeout: timedelta
) -> list[PolicyVerdict]:
    results: list[list[PolicyVerdict]] = []
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tfo.activities.policy_eval",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        limit=_LINE_LIMIT,
        start_new_session=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    async def collect() -> None:
        stdin.write(json.dumps(request).encode())
        await stdin.drain()
        stdin.close()
        while len(results) < len(rules):
            line = await stdout.readline()
            if not line:
                return
            results.append([PolicyVerdict.model_validate(v) for v in json.loads(line)])

    failure = ""
    try:
        await asyncio.wait_for(collect(), timeout.total_seconds())
    except TimeoutError:
        failure = f"evaluation did not finish within {timeout.total_seconds():g}s"
    except (OSError, ValueError) as exc:
        failure = f"the evaluator failed: {exc}"
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        rc = await proc.wait()
    if not failure and len(results) < len(rules):
        failure = f"the evaluator exited with code {rc} (memory limit?)"
    verdicts = [v for rule_verdicts in results for v in rule_verdicts]
    for i, rule in enumerate(rules[len(results) :]):
        error = failure if i == 0 else f"not evaluated: rule {rules[len(results)].name!r} failed first"
        verdicts.append(PolicyVerdict(rule=rule.name, message=rule.message, effect=rule.effect(mode), error=error))
    return bounded(verdicts)
