"""activities.binary_policy: what a worker may execute is the worker's decision."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tfo.activities.binary_policy import BinaryNotAllowedError, allow_binaries, allow_config, check_binary


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_a_binary_is_refused_unless_allowed_by_real_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TFO_ALLOWED_BINARIES", raising=False)
    tool = _executable(tmp_path / "bin" / "terraform")
    with pytest.raises(BinaryNotAllowedError, match="not allowed on this worker"):
        check_binary(str(tool))
    monkeypatch.setenv("TFO_ALLOWED_BINARIES", os.pathsep.join(["/nowhere/terraform", str(tool)]))
    assert check_binary(str(tool)) == str(tool)
    # A symlink to an allowed binary is that binary; a copy elsewhere is not.
    link = tmp_path / "link" / "terraform"
    link.parent.mkdir()
    link.symlink_to(tool)
    assert check_binary(str(link)) == str(tool)
    copy = _executable(tmp_path / "copy" / "terraform")
    with pytest.raises(BinaryNotAllowedError):
        check_binary(str(copy))


def test_flags_and_configs_allow_binaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TFO_ALLOWED_BINARIES", raising=False)
    flagged = _executable(tmp_path / "flag" / "tofu")
    allow_binaries(["flag/tofu"], base=tmp_path)  # `--allow-binary` is relative to the cwd
    assert check_binary(str(flagged)) == str(flagged)
    named = _executable(tmp_path / "cfg" / "tools" / "terraform")
    config = tmp_path / "cfg" / "infra.yaml"
    config.write_text("terraform:\n  binary: ./tools/terraform\nworkspaces: []\n")
    allow_config(config)
    assert check_binary(str(named)) == str(named)


def test_a_missing_binary_is_a_plain_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="not found"):
        check_binary(str(tmp_path / "nope" / "terraform"))
