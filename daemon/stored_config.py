"""Sending a big run's config by reference (see config.config_pages)."""

from __future__ import annotations

from pathlib import Path

from tfo.activities.artifact_store import ArtifactStoreError, open_store
from tfo.config.config_pages import CONFIG_INLINE_BYTES, ConfigPages, encode, split_pages
from tfo.config.errors import RunError
from tfo.config.payloads import RunRequest


async def by_reference(request: RunRequest) -> RunRequest:
    """The request itself when it is small; else one whose specs and selection are
    stored in the config's artifact store, named by their SHA-256.

    Raises:
        RunError: the store could not take them (one line naming it).
    """
    if request.config.pages is not None or len(request.model_dump_json()) <= CONFIG_INLINE_BYTES:
        return request
    config = request.config
    specs = [ws.model_dump(mode="json") for ws in config.workspaces]
    pages = split_pages(specs, request.workspaces)
    data, sha256 = encode(pages)
    ref = ConfigPages(blob=f"config-{sha256}.json", sha256=sha256, pages=len(pages), workspaces=len(specs))
    store = open_store(config.artifacts, state_dir=Path(config.state_dir))
    try:
        await store.put_blob(ref.blob, data)
    except ArtifactStoreError as exc:
        raise RunError(f"cannot store the config of {len(specs)} workspaces for the run: {exc}") from None
    slim = config.model_copy(update={"workspaces": [], "pages": ref})
    return request.model_copy(update={"config": slim, "workspaces": []})
