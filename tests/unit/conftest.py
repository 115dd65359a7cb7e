"""Unit tests write configs with `dir: .` into tmp_path: make that dir a module.

tfo refuses a workspace dir without `.tf` files (a typo in `dir` would otherwise
plan to destroy everything in the workspace's state), so tmp_path gets an empty
main.tf in every test that uses it.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _tmp_path_is_a_module(request: pytest.FixtureRequest) -> None:
    if "tmp_path" in request.fixturenames:
        (request.getfixturevalue("tmp_path") / "main.tf").touch()
