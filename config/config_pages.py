"""A big config travels by reference: its specs are stored as a blob, read in pages.

A run's request holds the whole config snapshot, and Temporal bounds every payload
(tfo keeps them under 256 KiB). A request over CONFIG_INLINE_BYTES (about 300
workspaces) is sent with its specs and selection stored in the artifact store
(`artifacts:`, or `STATE_DIR/artifacts` by default) under a name made of their
SHA-256; the run reads them back in pages of at most CONFIG_PAGE_BYTES each.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict

CONFIG_INLINE_BYTES = 128 * 1024
CONFIG_PAGE_BYTES = 160 * 1024


class ConfigPages(BaseModel):
    """Where a run's workspace specs and selection are stored, and how to check them."""

    model_config = ConfigDict(extra="ignore")

    blob: str
    sha256: str
    pages: int
    workspaces: int


def split_pages(specs: list[dict[str, Any]], selection: list[str]) -> list[dict[str, Any]]:
    """Specs and selected names in pages of at most CONFIG_PAGE_BYTES of JSON each."""
    pages: list[dict[str, Any]] = [{"specs": [], "selection": []}]
    size = 0
    items: list[tuple[str, Any, int]] = [("specs", spec, len(_compact(spec)) + 1) for spec in specs]
    items += [("selection", name, len(_compact(name)) + 1) for name in selection]
    for kind, item, n in items:
        if size + n > CONFIG_PAGE_BYTES and (pages[-1]["specs"] or pages[-1]["selection"]):
            pages.append({"specs": [], "selection": []})
            size = 0
        pages[-1][kind].append(item)
        size += n
    return pages


def encode(pages: list[dict[str, Any]]) -> tuple[bytes, str]:
    """The blob's bytes and their SHA-256."""
    data = _compact({"pages": pages}).encode()
    return data, hashlib.sha256(data).hexdigest()


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def decode_page(data: bytes, ref: ConfigPages, index: int) -> dict[str, Any]:
    """Page `index` of a stored blob, after checking it is the one the run was given.

    Raises:
        ValueError: the bytes are not the blob the reference names, or no such page.
    """
    if hashlib.sha256(data).hexdigest() != ref.sha256:
        raise ValueError(f"config blob {ref.blob} does not match its SHA-256: it was changed or damaged")
    pages = json.loads(data)["pages"]
    if not 0 <= index < len(pages):
        raise ValueError(f"config blob {ref.blob} has no page {index}")
    page: dict[str, Any] = pages[index]
    return page
