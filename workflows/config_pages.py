"""Reading a run's config stored by reference (see config.config_pages), page by page."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tfo.config.payloads import RunRequest, WorkspaceSpec
    from tfo.config.segment_models import ConfigPage, PageRequest
    from tfo.workflows import retry


async def load(req: RunRequest) -> RunRequest:
    """The request with its specs (and, unless it names its own, its selection) read back.

    The copy lives in the workflow's memory only; each page is one bounded activity result.
    """
    config = req.config
    assert config.pages is not None
    specs: list[WorkspaceSpec] = []
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
        specs += page.specs
        selection += page.selection
    return req.model_copy(
        update={
            "config": config.model_copy(update={"workspaces": specs}),
            "workspaces": req.workspaces or selection,
        }
    )
