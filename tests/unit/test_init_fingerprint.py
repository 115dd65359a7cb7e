"""init is skipped only while nothing it depends on changed, the backend settings in the
environment included (a moved or re-keyed backend must be initialised again)."""

from __future__ import annotations

import sys
from pathlib import Path

from tfo.activities.workdir import init_fingerprint


def test_backend_settings_from_the_environment_change_the_fingerprint(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('terraform {\n  backend "pg" {}\n}\n')
    binary = sys.executable  # any existing file stands in for the binary
    one = {"TF_CLI_ARGS_init": "-backend-config=conn_str=postgres://db1"}
    two = {"TF_CLI_ARGS_init": "-backend-config=conn_str=postgres://db2"}
    assert init_fingerprint(tmp_path, binary, one) == init_fingerprint(tmp_path, binary, dict(one))
    assert init_fingerprint(tmp_path, binary, one) != init_fingerprint(tmp_path, binary, two)
    assert init_fingerprint(tmp_path, binary, {}) != init_fingerprint(tmp_path, binary, {"PG_CONN_STR": "x"})
    assert "db1" not in init_fingerprint(tmp_path, binary, one)  # a digest, never the value
    # Unrelated variables do not force an init.
    assert init_fingerprint(tmp_path, binary, {}) == init_fingerprint(tmp_path, binary, {"HOME": "/root"})
