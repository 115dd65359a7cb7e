"""Whether `tfo plan|apply` resumes the state dir's unfinished run or starts a new one.

A run is resumed only when it is the same request: started from the CLI (never an
agent's or a schedule's), from the same config file with the same content, for the
same workspaces with the same options, and followed by no live process (see
`daemon.followers`). Every run records what it was asked in its memo (`request`),
so the comparison is with what the server holds, not with a local guess.

Otherwise the command says why in one line and starts a new run; or, for an apply,
refuses while another live process follows a run over the same workspaces, naming
that run and how to look at, approve or cancel it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from tfo.config.errors import RunError
from tfo.config.payloads import RunRequest
from tfo.daemon.followers import FollowerLock, follower_pid

MEMO_KEY = "request"


def request_identity(request: RunRequest) -> dict[str, Any]:
    """What makes two requests the same, small whatever the number of workspaces."""
    try:
        content = Path(request.config.path).read_bytes()
    except OSError:  # an inline config has no file: its snapshot stands for it
        content = b""
    config = hashlib.sha256(content + b"\0" + request.config.model_dump_json().encode()).hexdigest()[:16]
    selection = hashlib.sha256("\n".join(request.workspaces).encode()).hexdigest()[:16]
    return {
        "trigger": request.trigger,
        "config_sha256": config,
        "selection": selection,
        "options": {
            "auto_approve": request.auto_approve,
            "parallelism": request.parallelism,
            "no_wait": request.no_wait,
        },
    }


def run_memo(request: RunRequest) -> dict[str, Any]:
    """What a run records of its request at start (Temporal's memo), for `differences`."""
    return {
        "config": request.config.path,
        "mode": request.mode,
        "trigger": request.trigger,
        MEMO_KEY: request_identity(request),
    }


@dataclass
class Adoption:
    """The run to resume (with its follower lock taken), or a note about the one not resumed."""

    run_id: str | None = None
    follower: FollowerLock | None = None
    note: str | None = None


async def choose_run(client: Client, state_dir: Path, request: RunRequest, *, last: dict[str, Any]) -> Adoption:
    """Resume the state dir's last run (`last`, from last-run.json) only if it is this request.

    Raises:
        RunError: an apply, while a live process follows a run over the same workspaces.
    """
    run_id = str(last.get("run_id", ""))
    if not run_id or last.get("ended"):
        return Adoption()
    try:
        desc = await client.get_workflow_handle(run_id).describe()
        memo = await desc.memo()
    except RPCError:
        return Adoption()
    if desc.status != WorkflowExecutionStatus.RUNNING:
        return Adoption()
    reasons = differences(memo, request)
    follower = FollowerLock.take(state_dir, run_id)
    if follower is not None and not reasons:
        return Adoption(run_id=run_id, follower=follower)
    if follower is not None:
        follower.release()
    else:
        pid = follower_pid(state_dir, run_id)
        reasons.append(f"another tfo process{f' (pid {pid})' if pid else ''} is following it")
        shared = sorted(set(last.get("workspaces") or []) & set(request.workspaces))
        if shared and request.mode == "apply" and memo.get("mode") == "apply":
            named = ", ".join(shared[:5]) + (" ..." if len(shared) > 5 else "")
            raise RunError(
                f"workspace{'s' if len(shared) > 1 else ''} {named} {'are' if len(shared) > 1 else 'is'} in "
                f"run {run_id}, which {reasons[-1]}: see `tfo status {run_id}`, then "
                f"`tfo approve {run_id}` / `tfo reject {run_id}` at its gate, or `tfo cancel {run_id}`"
            )
    note = (
        f"not resuming run {run_id}: {'; '.join(reasons)}; starting a new run "
        f"(it stays open: `tfo status {run_id}`, `tfo cancel {run_id}`)"
    )
    return Adoption(note=note)


def differences(memo: Any, request: RunRequest) -> list[str]:
    """Why a run (by its memo) is not this request; empty when it is."""
    recorded = memo.get(MEMO_KEY) if isinstance(memo, dict) else None
    if not isinstance(recorded, dict):
        return ["it was started by an earlier version of tfo, which did not record its request"]
    wanted = request_identity(request)
    trigger = recorded.get("trigger")
    if trigger != "cli":
        who = {"mcp": "an agent (MCP)", "schedule": "a drift schedule"}.get(str(trigger), f"{trigger!r}")
        return [f"{who} started it, not the CLI"]
    reasons = []
    if memo.get("config") != request.config.path:
        reasons.append(f"it belongs to another config file ({memo.get('config')})")
    elif recorded.get("config_sha256") != wanted["config_sha256"]:
        reasons.append(f"{Path(request.config.path).name} changed since it started")
    if memo.get("mode") != request.mode:
        reasons.append(f"it is a{'n' if memo.get('mode') == 'apply' else ''} {memo.get('mode')}")
    if recorded.get("selection") != wanted["selection"]:
        reasons.append("it selected other workspaces")
    reasons += _option_differences(recorded.get("options") or {}, wanted["options"])
    return reasons


def _option_differences(theirs: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    reasons = []
    if ours["auto_approve"] and not theirs.get("auto_approve"):
        reasons.append("it waits for a human's approval, and --auto-approve never takes over such a run")
    elif theirs.get("auto_approve") and not ours["auto_approve"]:
        reasons.append("it was started with --auto-approve")
    if theirs.get("parallelism") != ours["parallelism"]:
        reasons.append(f"it was started with --parallelism {theirs.get('parallelism')}")
    if bool(theirs.get("no_wait")) != ours["no_wait"]:
        reasons.append(f"it was started {'with' if theirs.get('no_wait') else 'without'} --no-wait")
    return reasons


def read_last(path: Path) -> dict[str, Any]:
    try:
        last = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return last if isinstance(last, dict) else {}
