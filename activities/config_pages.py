"""Reading a stored config's pages for a run (see config.config_pages)."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from tfo.activities.artifact_store import ArtifactStoreError, MissingArtifact, open_store
from tfo.activities.failures import non_retryable
from tfo.config.artifact_models import ArtifactsConfig
from tfo.config.config_pages import ConfigPages, decode_page
from tfo.config.errors import ErrorType
from tfo.config.payloads import ConfigSnapshot, WorkspaceSpec
from tfo.config.segment_models import ConfigPage, PageRequest


class ConfigPageActivities:
    @activity.defn(name="load_config_page")
    async def load_config_page(self, req: PageRequest) -> ConfigPage:
        data = await _blob(req.pages, req.artifacts, req.state_dir)
        return _page(data, req.pages, req.index)


async def stored_specs(config: ConfigSnapshot) -> list[WorkspaceSpec]:
    """A config's specs, read back from the store when it travels by reference."""
    if config.pages is None:
        return config.workspaces
    data = await _blob(config.pages, config.artifacts, config.state_dir)
    return [spec for index in range(config.pages.pages) for spec in _page(data, config.pages, index).specs]


async def _blob(pages: ConfigPages, artifacts: ArtifactsConfig | None, state_dir: str) -> bytes:
    store = open_store(artifacts, state_dir=Path(state_dir))
    try:
        return await store.get_blob(pages.blob)
    except MissingArtifact as exc:
        raise non_retryable(
            f"the run's config ({pages.workspaces} workspaces, stored by reference) is not readable "
            f"here: {exc}. A worker on another host needs the `artifacts:` store of infra.yaml",
            ErrorType.CONFIG,
        ) from None
    except ArtifactStoreError as exc:  # the store may come back: retried
        raise ApplicationError(f"the run's config: {exc}", type="ArtifactStore") from None


def _page(data: bytes, pages: ConfigPages, index: int) -> ConfigPage:
    try:
        return ConfigPage.model_validate(decode_page(data, pages, index))
    except ValueError as exc:
        raise non_retryable(str(exc).splitlines()[0], ErrorType.CONFIG) from None
