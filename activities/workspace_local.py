"""Where a run's workspace lives on this worker, and how its saved plan gets here.

Without a git source and an artifact store, every worker reads the workspace dirs
and the state dir at the paths the request names (a shared volume). With them, a
worker needs no shared path at all:

- the workspace is this worker's checkout of the run's commit (activities.git_cache);
- run files (saved plans, init markers, apply markers) live in the worker's own
  work dir (`tfo worker --work-dir`), not in the client's state dir;
- a kept plan is stored in the artifact store, and a worker that did not make it
  fetches it (SHA-256 checked) before it applies, at the same commit only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.exceptions import ApplicationError

from tfo.activities.artifact_store import ArtifactStoreError, MissingArtifact, StalePlanArtifact, open_store
from tfo.activities.failures import non_retryable
from tfo.activities.git_cache import GitCache, SourceError
from tfo.activities.workdir import private_dirs, sha256_file
from tfo.config.artifact_models import ArtifactRef, ArtifactsConfig
from tfo.config.errors import ErrorType
from tfo.config.payloads import ApplyRequest, InputValue, PlanRequest, PlanResult, WorkspaceSpec
from tfo.config.source_models import GitSource, PinnedSource


def source_failure(exc: SourceError) -> ApplicationError:
    """A ref or commit that is not there fails at once; an unreachable remote is retried."""
    kind = "SourceMissing" if exc.missing else "SourceUnreachable"
    return ApplicationError(str(exc), type=kind, non_retryable=exc.missing)


def _store_failure(exc: Exception) -> ApplicationError:
    if isinstance(exc, StalePlanArtifact | MissingArtifact):
        return non_retryable(f"saved plan: {exc}", ErrorType.PLAN_TAMPERED)
    return ApplicationError(f"artifact store: {exc}", type="ArtifactStore")


class LocalWorkspaces:
    """Args:
    work_dir: This worker's own dir for run files and checkouts; None: the request's
        state dir (a state dir every worker shares).
    """

    def __init__(self, work_dir: Path | None = None) -> None:
        self._work_dir = work_dir
        self._caches: dict[Path, GitCache] = {}

    def state_dir(self, requested: str) -> str:
        return str(self._work_dir) if self._work_dir is not None else requested

    def checkouts(self, directory: str) -> bool:
        """Whether `directory` is inside one of this worker's git checkouts."""
        return any(Path(directory).is_relative_to(cache.root) for cache in self._caches.values())

    def _cache(self, state_dir: str) -> GitCache:
        root = Path(state_dir) / "git"
        if root not in self._caches:
            self._caches[root] = GitCache(root)
        return self._caches[root]

    async def resolve(self, source: GitSource, state_dir: str) -> str:
        try:
            return await self._cache(self.state_dir(state_dir)).resolve(source.git, source.ref)
        except SourceError as exc:
            raise source_failure(exc) from None

    @asynccontextmanager
    async def _tree(self, source: PinnedSource | None, state_dir: str) -> AsyncIterator[Path | None]:
        if source is None:
            yield None
            return
        try:
            async with self._cache(state_dir).use(source.url, source.commit) as tree:
                yield tree
        except SourceError as exc:
            raise source_failure(exc) from None

    @asynccontextmanager
    async def plan(self, req: PlanRequest) -> AsyncIterator[PlanRequest]:
        """The request with this worker's dirs, the checkout held for the block."""
        state_dir = self.state_dir(req.state_dir)
        async with self._tree(req.source, state_dir) as tree:
            if tree is None:
                yield req.model_copy(update={"state_dir": state_dir})
                return
            inputs = {name: _local_input(value, tree) for name, value in req.inputs.items()}
            workspace = _local_spec(req.workspace, tree)
            yield req.model_copy(update={"state_dir": state_dir, "workspace": workspace, "inputs": inputs})

    @asynccontextmanager
    async def apply(self, req: ApplyRequest) -> AsyncIterator[ApplyRequest]:
        state_dir = self.state_dir(req.state_dir)
        async with self._tree(req.source, state_dir) as tree:
            workspace = req.workspace if tree is None else _local_spec(req.workspace, tree)
            yield req.model_copy(update={"state_dir": state_dir, "workspace": workspace})

    async def store(self, req: PlanRequest, result: PlanResult) -> ArtifactRef | None:
        """Put a kept plan into the artifact store (when the config names one)."""
        if req.artifacts is None or result.plan_file is None or result.plan_sha256 is None:
            return None
        store = open_store(req.artifacts, state_dir=Path(req.state_dir))
        try:
            return await store.put(
                Path(req.state_dir) / result.plan_file,
                run_id=req.run_id,
                workspace=req.workspace.name,
                commit=req.source.commit if req.source else "",
                sha256=result.plan_sha256,
            )
        except (ArtifactStoreError, StalePlanArtifact, MissingArtifact) as exc:
            raise _store_failure(exc) from None

    async def fetch(self, req: ApplyRequest) -> None:
        """Bring the approved plan to this worker unless it is already here, intact.

        A plan made at another commit than the run's is refused as stale: the run plans
        again at its commit, within what was approved."""
        plan_file = Path(req.state_dir) / req.plan_file
        if plan_file.is_file() and sha256_file(plan_file) == req.plan_sha256:
            return
        ref = req.artifact
        if ref is None or req.artifacts is None:
            if self._work_dir is not None:
                # The plan stayed in the dir of a worker that is gone: plan afresh, within
                # what was approved (the approval bounds the new plan).
                raise non_retryable(
                    "the saved plan stayed on the worker that made it, which is gone, and the config "
                    "names no artifact store: planning again",
                    ErrorType.STALE_PLAN,
                )
            return  # one shared state dir: the apply finds the plan missing and says so
        if req.source is not None and ref.commit != req.source.commit:
            raise non_retryable(
                f"the saved plan was made at commit {ref.commit[:12]}, the run is at {req.source.commit[:12]}",
                ErrorType.STALE_PLAN,
            )
        if ref.sha256 != req.plan_sha256:
            raise non_retryable("the stored plan is not the approved one", ErrorType.PLAN_TAMPERED)
        private_dirs(Path(req.state_dir), plan_file.parent)
        store = open_store(req.artifacts, state_dir=Path(req.state_dir))
        try:
            await store.fetch(ref, plan_file)
        except (ArtifactStoreError, StalePlanArtifact, MissingArtifact) as exc:
            raise _store_failure(exc) from None

    async def delete(self, artifacts: ArtifactsConfig, state_dir: str, run_id: str) -> int:
        store = open_store(artifacts, state_dir=Path(self.state_dir(state_dir)))
        try:
            return await store.delete_run(run_id)
        except ArtifactStoreError as exc:
            raise _store_failure(exc) from None


def _local_spec(ws: WorkspaceSpec, tree: Path) -> WorkspaceSpec:
    tfvars = str(tree / ws.tfvars) if ws.tfvars else None
    return ws.model_copy(update={"dir": str(tree / ws.dir), "tfvars": tfvars})


def _local_input(value: InputValue, tree: Path) -> InputValue:
    if value.ref is None:
        return value
    return value.model_copy(update={"ref": value.ref.model_copy(update={"dir": str(tree / value.ref.dir)})})
