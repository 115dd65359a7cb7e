"""Reading a run's config stored by reference (see config.config_pages), page by page."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tfo.config.payloads import RunRequest
    from tfo.config.segment_models import ConfigPage, PageRequest
    from tfo.workflows import retry
    from tfo.workflows.spec_store import SpecStore


async def load(req: RunRequest) -> tuple[RunRequest, SpecStore]:
    """The request with its selection read back (unless it names its own), and its specs.

    The specs live in the workflow's memory only, as JSON (see spec_store); each page is
    one bounded activity result, its objects dropped once stored.
    """
    config = req.config
    assert config.pages is not None
    store = SpecStore()
    selection: list[str] = []
    for index in range(config.pages.pages):
        page: ConfigPage = await workflow.execute_activity(
            "load_config_page",
            PageRequest(pages=config.pages, index=index, artifacts=config.artifacts, state_dir=config.state_dir),
            result_type=ConfigPage,
            task_queue=config.task_queue,
            start_to_close_timeout=retry.BOOKKEEPING_TIMEOUT,
            retry_policy=retry.BOOKKEEPING,
        )
        store.add(page.specs)
        selection += page.selection
    return req.model_copy(update={"workspaces": req.workspaces or selection}), store


def with_specs(req: RunRequest, store: SpecStore) -> RunRequest:
    """The request with its specs as objects, for a run small enough to hold them."""
    return req.model_copy(update={"config": req.config.model_copy(update={"workspaces": store.specs(store.names())})})
