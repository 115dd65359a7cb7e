"""Editing YAML documents as text in tests, keeping their comments and layout."""

from __future__ import annotations


def without_top_level_keys(text: str, keys: set[str]) -> str:
    kept, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line.strip() and not line[0].isspace() and not line.startswith("#"):
            skipping = line.split(":", 1)[0] in keys
        if not skipping:
            kept.append(line)
    return "".join(kept)
