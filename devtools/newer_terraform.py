"""Print the path of a terraform >= 1.5 on PATH, if the machine has one (else nothing).

`make test` runs the tests that need resource drift and check blocks a second time
with it, so that CI covers both the pinned terraform 1.0.3 and a current one:

    python -m devtools.newer_terraform
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

MINIMUM = (1, 5)


def version_of(binary: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([binary, "version", "-json"], capture_output=True, text=True, timeout=30, check=True)
        return tuple(int(part) for part in json.loads(out.stdout)["terraform_version"].split(".")[:3])
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        return None


def newer_terraform() -> str | None:
    dev_bin = Path(".tfo-dev/bin").resolve()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not directory or Path(directory).resolve() == dev_bin:
            continue  # the pinned 1.0.3 that make links there
        found = shutil.which("terraform", path=directory)
        if found:
            version = version_of(found)
            if version is not None and version[:2] >= MINIMUM:
                return str(Path(found).resolve())
    return None


if __name__ == "__main__":
    path = newer_terraform()
    if path:
        print(path)
