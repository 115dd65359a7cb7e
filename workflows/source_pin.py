"""Pinning a run to one commit of its git source (used by ParentWorkflow)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tfo.config.payloads import ConfigSnapshot, ResolveRequest
    from tfo.config.source_models import GitSource, PinnedSource
    from tfo.workflows import retry


async def resolve(source: GitSource, *, state_dir: str, task_queue: str) -> PinnedSource:
    """The commit `source.ref` names now, resolved by a worker (workflows do no I/O).

    The workflow queue's worker resolves it: it needs read access to the repository
    (`git ls-remote`), as the workers that check the commit out do."""
    commit: str = await workflow.execute_activity(
        "resolve_source",
        ResolveRequest(source=source, state_dir=state_dir),
        result_type=str,
        task_queue=task_queue,
        start_to_close_timeout=retry.BOOKKEEPING_TIMEOUT,
        retry_policy=retry.SOURCE,
    )
    return source.pin(commit)


async def latest(config: ConfigSnapshot, pinned: PinnedSource) -> PinnedSource:
    """The commit the run's ref names now (`pinned` itself when it has not moved)."""
    assert config.source is not None
    now = await resolve(config.source, state_dir=config.state_dir, task_queue=config.task_queue)
    return pinned if now.commit == pinned.commit else now
