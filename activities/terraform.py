"""Terraform activities: one fused activity per phase to keep round trips few.

- `plan_workspace`: var file, init (skipped when nothing it depends on changed),
  validate, plan, show -json; returns a PlanSummary and, in apply runs, a saved plan.
- `apply_workspace`: applies exactly that saved plan, once, then reads outputs.
"""

from __future__ import annotations

import contextlib
import json
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from temporalio import activity

from tfo.activities import apply_process, plan_files, workdir, workspace_lock
from tfo.activities import apply_sentinel as sentinel
from tfo.activities.baseline import fingerprint
from tfo.activities.failures import binary_error, classify, non_retryable, require_dir
from tfo.activities.plan_summary import redact_outputs, summarize
from tfo.activities.policy_check import check_plan
from tfo.activities.runner import (
    CommandResult,
    TerraformRunner,
    apply_args,
    init_args,
    output_args,
    plan_args,
    resolve_binary,
    show_args,
    state_pull_args,
    validate_args,
)
from tfo.activities.tf_diagnostics import VAR_FILE_NAME, VariableSources
from tfo.activities.variables import merge_variables, write_var_file
from tfo.activities.workspace_local import LocalWorkspaces
from tfo.config.errors import ErrorType, TerraformError
from tfo.config.model import Operation
from tfo.config.payloads import (
    ApplyRequest,
    ApplyResult,
    PlanRequest,
    PlanResult,
    ResolveRequest,
    WorkspaceSpec,
)


def _heartbeat(step: str, workspace: str) -> None:
    activity.heartbeat({"workspace": workspace, "step": step})


def _attempt() -> int:
    """This activity's attempt (1 when called outside an activity, as tests do)."""
    return activity.info().attempt if activity.in_activity() else 1


class TerraformActivities:
    """Terraform activities, given their runner so tests can hand in another.

    Args:
        runner: Runs terraform subprocesses.
        worker_id: Recorded in results, so a run shows which worker did what.
        local: Where requests' workspaces and files live on this worker.
        worker_queue: This worker's own task queue: an apply of a plan it made is
            sent there first (cluster mode), so its checkout and .terraform are reused.
    """

    def __init__(
        self,
        runner: TerraformRunner,
        *,
        worker_id: str,
        local: LocalWorkspaces | None = None,
        worker_queue: str = "",
    ) -> None:
        self._runner = runner
        self._worker = worker_id
        self._local = local or LocalWorkspaces()
        self._worker_queue = worker_queue

    async def _run(self, ws: WorkspaceSpec, args: list[str], *, cwd: str | None = None) -> CommandResult:
        try:
            return await self._runner.run(
                ws.binary, args, cwd=Path(cwd or ws.dir), heartbeat=lambda: _heartbeat(args[0], ws.name)
            )
        except TerraformError as exc:
            raise binary_error(exc) from None

    def _allowed(self, ws: WorkspaceSpec) -> str:
        """The real path of the workspace's binary, refused before anything runs unless
        this worker allows it (the payload does not decide what a worker executes)."""
        try:
            return resolve_binary(ws.binary, cwd=Path(ws.dir))
        except TerraformError as exc:
            raise binary_error(exc) from None

    async def _read_outputs(self, binary: str, directory: str) -> dict[str, Any]:
        if self._local.checkouts(directory) and not (Path(directory) / ".terraform").exists():
            # An upstream's dir in this worker's checkout, never initialised here: its
            # (remote) state is only readable after init.
            init = await self._runner.run(binary, init_args(), cwd=Path(directory))
            if init.returncode != 0:
                raise classify(init, workspace=Path(directory).name)
        try:
            result = await self._runner.run(binary, output_args(), cwd=Path(directory))
        except TerraformError as exc:
            raise binary_error(exc, workspace=Path(directory).name) from None
        if result.returncode != 0:
            raise classify(result, workspace=Path(directory).name)
        return json.loads(result.stdout or "{}")

    @activity.defn(name="resolve_source")
    async def resolve_source(self, req: ResolveRequest) -> str:
        """The commit a git source's ref names now (the run pins it)."""
        return await self._local.resolve(req.source, req.state_dir)

    @activity.defn(name="plan_workspace")
    async def plan_workspace(self, req: PlanRequest) -> PlanResult:
        async with self._local.plan(req) as local, self._locked(local.workspace, local.run_id, req.file_lock):
            result = await self._plan(local)
            result.commit = local.source.commit if local.source else ""
            result.artifact = await self._local.store(local, result)
            if result.plan_file is not None:
                result.worker_queue = self._worker_queue  # set when this worker has a dir of its own
        return result

    @activity.defn(name="apply_workspace")
    async def apply_workspace(self, req: ApplyRequest) -> ApplyResult:
        async with self._local.apply(req) as local, self._locked(local.workspace, local.run_id, req.file_lock):
            await self._local.fetch(local)
            if local.source is not None:
                # A worker that did not plan it may never have initialised this checkout.
                await self._init(
                    PlanRequest(
                        run_id=local.run_id,
                        state_dir=local.state_dir,
                        workspace=local.workspace,
                        settings=local.settings,
                    )
                )
            return await self._apply(local)

    def _locked(self, ws: WorkspaceSpec, run_id: str, file_lock: bool) -> AbstractAsyncContextManager[None]:
        """The workspace's file lock, when the run locks by file (see workspace_lock)."""
        if not file_lock:
            return contextlib.nullcontext()
        return workspace_lock.held(
            ws.dir, run_id=run_id, workspace=ws.name, attempt=_attempt(), heartbeat=lambda: _heartbeat("lock", ws.name)
        )

    async def _plan(self, req: PlanRequest) -> PlanResult:
        ws = req.workspace
        require_dir(ws.dir)
        self._allowed(ws)
        run_dir = workdir.run_dir(req.state_dir, req.run_id, ws.name)
        plan_file = workdir.plan_path(req.state_dir, req.run_id, ws.name)
        # Each attempt writes in a dir of its own: an attempt that timed out (a starved
        # worker missing heartbeats) and is still being stopped must not delete the var
        # file or the plan of the retry that runs beside it.
        scratch = workdir.attempt_dir(run_dir, _attempt())
        var_file = scratch / VAR_FILE_NAME
        draft = scratch / plan_file.name
        workdir.private_dirs(Path(req.state_dir), scratch)
        try:
            values = await merge_variables(ws, req.inputs, self._read_outputs)
            write_var_file(var_file, values)
            init_skipped = await self._init(req)
            if Operation.VALIDATE in ws.operations:
                await self._validate(req)
            if Operation.PLAN not in ws.operations:
                outputs = redact_outputs(await self._read_outputs(ws.binary, ws.dir))
                summary = summarize({"prior_state": {"values": {"outputs": {}}}})
                summary.outputs = outputs
                return PlanResult(summary=summary, init_skipped=init_skipped, worker=self._worker)
            result = await self._run(
                ws, plan_args(plan_file=draft, var_file=var_file, lock_timeout=req.settings.lock_timeout)
            )
            if result.returncode not in (0, 2):
                raise classify(result, sources=VariableSources.of(ws))
            shown = await self._run(ws, show_args(plan_file=draft))
            await self._check(ws, shown)
            plan = json.loads(shown.stdout)
            summary = summarize(plan, ignore_rules=ws.drift_ignore)
            summary.baseline = fingerprint(ws, req.inputs, plan)
            if req.policies:
                _heartbeat("policy", ws.name)
                summary.policy = await check_plan(req, plan)
            if req.keep_plan:
                draft.chmod(0o600)  # terraform creates it with the umask's mode
                draft.replace(plan_file)
        finally:
            # A plan-only run keeps nothing, whether it succeeded, failed or was
            # cancelled: a saved plan holds the variables' values in clear text.
            var_file.unlink(missing_ok=True)
            draft.unlink(missing_ok=True)
            plan_files.remove_empty(scratch, levels=1)
            if not req.keep_plan:
                plan_files.remove_empty(run_dir)
        if not req.keep_plan:
            return PlanResult(summary=summary, init_skipped=init_skipped, worker=self._worker)
        return PlanResult(
            summary=summary,
            plan_file=str(plan_file.relative_to(req.state_dir)),
            plan_sha256=workdir.sha256_file(plan_file),
            init_skipped=init_skipped,
            worker=self._worker,
        )

    async def _check(self, ws: WorkspaceSpec, result: CommandResult) -> None:
        if result.returncode != 0:
            raise classify(result, sources=VariableSources.of(ws))

    async def _init(self, req: PlanRequest) -> bool:
        """Run init unless the last successful one saw the same inputs; True if skipped."""
        ws = req.workspace
        if Operation.INIT not in ws.operations:
            return True
        marker = workdir.init_marker(req.state_dir, ws.lock_key)
        fingerprint = self._fingerprint(ws)
        recorded = workdir.read_marker(marker)
        # A module with no providers or modules gets no .terraform dir from init; the
        # marker remembers whether there was one, so that only a deleted one re-inits.
        had_dir = recorded.get("dot_terraform", "yes") == "yes"
        if recorded.get("fingerprint") == fingerprint and (Path(ws.dir) / ".terraform").is_dir() == had_dir:
            return True
        await self._check(ws, await self._run(ws, init_args()))
        fingerprint = self._fingerprint(ws)
        has_dir = (Path(ws.dir) / ".terraform").is_dir()
        workdir.write_private(
            marker, json.dumps({"fingerprint": fingerprint, "dot_terraform": "yes" if has_dir else "no"})
        )
        return False

    async def _validate(self, req: PlanRequest) -> None:
        """Run validate unless it passed on exactly these module files, lock file and binary.

        `terraform validate` reads no variables and no state, so its verdict depends on
        nothing but what the init fingerprint covers: a drift check of an unchanged
        workspace need not pay for it again (plan validates the configuration anyway).
        """
        ws = req.workspace
        marker = workdir.init_marker(req.state_dir, ws.lock_key)
        recorded = workdir.read_marker(marker) if Operation.INIT in ws.operations else {}
        fingerprint = recorded.get("fingerprint")
        if fingerprint and recorded.get("validated") == fingerprint and self._fingerprint(ws) == fingerprint:
            return
        await self._check(ws, await self._run(ws, validate_args()))
        if fingerprint and self._fingerprint(ws) == fingerprint:
            workdir.write_private(marker, json.dumps({**recorded, "validated": fingerprint}))

    def _fingerprint(self, ws: WorkspaceSpec) -> str:
        binary = self._allowed(ws)
        return workdir.init_fingerprint(Path(ws.dir), binary, self._runner.env)

    async def _apply(self, req: ApplyRequest) -> ApplyResult:
        ws = req.workspace
        self._allowed(ws)
        plan_file = Path(req.state_dir) / req.plan_file
        run_dir = plan_file.parent
        applied = run_dir / "apply.done"
        started = run_dir / "apply.started"
        rc_file = run_dir / "apply.rc"
        log_file = run_dir / "apply.log"
        # The markers name the plan they belong to: a run that re-plans applies a new
        # plan in the same directory, and a retry must only adopt its own plan's apply.
        if plan_files.marker_plan(applied) == req.plan_sha256:
            # A retry of an apply that already finished (the worker died before
            # reporting it): never apply again, just report what it did.
            outputs = redact_outputs(await self._read_outputs(ws.binary, ws.dir))
            return ApplyResult(outputs=outputs, resumed=True, worker=self._worker)
        resumed = plan_files.marker_plan(started) == req.plan_sha256
        if resumed and not await sentinel.ever_started(
            run_dir / "apply.pid", rc_file, started.stat().st_mtime, lambda: _heartbeat("apply", ws.name)
        ):
            # The previous attempt died between its marker and its sentinel's start:
            # nothing was applied, so this attempt applies the plan (if still current).
            resumed = False
        if not resumed:
            if not plan_file.is_file() or workdir.sha256_file(plan_file) != req.plan_sha256:
                raise non_retryable("the saved plan is missing or was modified", ErrorType.PLAN_TAMPERED)
            await self._refuse_stale(ws, plan_file)
            # The log too: a failure is classified from it, and an earlier apply's
            # "Interrupt received" or network error must not be read as this one's.
            for stale in (rc_file, applied, log_file, run_dir / "apply.pid"):
                stale.unlink(missing_ok=True)
            marker = {"plan_sha256": req.plan_sha256, "attempt": activity.info().attempt, "worker": self._worker}
            workdir.write_private(started, json.dumps(marker))
            args = apply_args(plan_file=plan_file, lock_timeout=req.settings.lock_timeout)
            await apply_process.start(
                self._runner, self._allowed(ws), args, cwd=ws.dir, rc_file=rc_file, log_file=log_file
            )
        rc = await apply_process.wait(self._runner, rc_file, started, heartbeat=lambda: _heartbeat("apply", ws.name))
        log = log_file.read_text(errors="replace") if log_file.exists() else ""
        if rc != 0:
            failed = CommandResult(command="apply", returncode=rc, stdout="", stderr=log, seconds=0)
            raise classify(failed, sources=VariableSources.of(ws))
        workdir.write_private(applied, json.dumps({"plan_sha256": req.plan_sha256}))
        plan_file.unlink(missing_ok=True)
        outputs = redact_outputs(await self._read_outputs(ws.binary, ws.dir))
        return ApplyResult(outputs=outputs, resumed=resumed, worker=self._worker)

    async def _refuse_stale(self, ws: WorkspaceSpec, plan_file: Path) -> None:
        """Refuse a saved plan whose state changed after it was made.

        A run does not hold a workspace's lock between its plan and apply phases, so
        another run may apply in between. terraform notices that only if the plan was
        made against an existing state: a plan made before the first apply would
        create everything a second time and leak the first objects.
        """
        planned = plan_files.planned_state_version(plan_file)
        if planned is None:
            return
        pulled = await self._run(ws, state_pull_args())
        if pulled.returncode != 0:
            raise classify(pulled)
        current = plan_files.state_version(pulled.stdout)
        if current is not None and current != planned:
            raise non_retryable(
                "the saved plan is stale (state changed since it was made); run tfo apply again to plan afresh",
                ErrorType.STALE_PLAN,
            )
