"""Lay out the installed `tfo` package as symlinks, for mypy.

setuptools maps the repository's top-level folders onto `tfo.config`, `tfo.daemon`
and so on (pyproject.toml's package-dir). mypy cannot follow that mapping, so
`make lint` points it at a tree of symlinks with the same shape:

    python -m devtools.typecheck_tree .tfo-dev/typecheck
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUBPACKAGES = ("config", "activities", "workflows", "daemon")


def build(root: Path) -> Path:
    """Create ROOT/tfo with links to tfo/'s files and the four folders; return ROOT/tfo."""
    package = root / "tfo"
    package.mkdir(parents=True, exist_ok=True)
    targets = {entry.name: entry for entry in (REPO / "tfo").iterdir() if entry.suffix in {".py", ".typed"}}
    targets.update({name: REPO / name for name in SUBPACKAGES})
    for name, target in targets.items():
        link = package / name
        if link.is_symlink() and link.resolve() == target:
            continue
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    return package


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else ".tfo-dev/typecheck"))
