"""Hostile input: every bad config or tfvars gets one clear line and exit 1, in bounded
time and memory, never a traceback, never a hang, and writes nothing outside the state dir.

Hand-written attacks run the real `tfo` in a subprocess under resource limits
(address space, CPU, file size); the fuzzed cases (hypothesis, seeded) run the CLI
in-process, at least 1,000 per strategy and run.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import resource
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.figures import record_figure
from tests.reliability.processes import TFO
from tfo.daemon.main import run as tfo_main

# A hang guard: a case that needs this long has failed ("never a hang").
HANG = 60.0
ADDRESS_SPACE = 1024 * 1024 * 1024  # 1 GiB
CPU_SECONDS = 30
FILE_SIZE = 16 * 1024 * 1024
FUZZ_CASES = 1000


def _limits() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE, FILE_SIZE))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under `root` with its type, size and mtime (symlinks not followed).

    A directory counts by its entries only: a file created in it shows as a new path.
    """
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            kind = stat.S_IFMT(info.st_mode)
            found[str(path.relative_to(root))] = (
                (kind, 0, 0) if kind == stat.S_IFDIR else (kind, info.st_size, info.st_mtime_ns)
            )
    return found


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float


def run_limited(args: list[str], *, cwd: Path, env: dict[str, str], io_dir: Path) -> Outcome:
    """`tfo ARGS` under resource limits; reaped with wait4 to read its peak memory."""
    out, err = io_dir / "stdout", io_dir / "stderr"
    began = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [TFO, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, preexec_fn=_limits
        )
    try:
        deadline = began + HANG
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"tfo {' '.join(args)} hung")
            time.sleep(0.02)
    finally:
        if proc.returncode is None and not pid:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - began
    result = Outcome(
        proc.returncode,
        out.read_text(errors="replace"),
        err.read_text(errors="replace"),
        seconds,
        usage.ru_maxrss / 1024,
    )
    return result


# -- the hand-written attacks ---------------------------------------------------------


def alias_bomb() -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 12):
        refs = ",".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\nworkspaces: *a11\n"


def many_nodes(limit: int = 4_900_000) -> str:
    """Just under the size limit, in small nodes: the costliest document tfo still parses."""
    entry = "  - {name: w%d, dir: ., dependsOn: [a, b, c, d, e]}\n"
    lines, size, i = ["workspaces:\n"], 12, 0
    while size < limit:
        line = entry % i
        lines.append(line)
        size += len(line)
        i += 1
    return "".join(lines)


def workspace(name: str = "a", **extra: Any) -> str:
    doc = {"workspaces": [{"name": name, "dir": "ws", **extra}]}
    return yaml.safe_dump(doc)


ATTACKS: dict[str, Callable[[Path], list[str]]] = {}


def attack(name: str) -> Callable[[Callable[[Path], list[str]]], Callable[[Path], list[str]]]:
    def register(build: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
        ATTACKS[name] = build
        return build

    return register


def _config(root: Path, content: str | bytes, *extra: str) -> list[str]:
    path = root / "infra.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return [str(path), *extra]


def _tfvars(root: Path, name: str, content: str | bytes) -> list[str]:
    path = root / "ws" / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return _config(root, workspace(tfvars=f"ws/{name}"))


for _name, _content in {
    "alias-bomb": alias_bomb(),
    "nesting-20000-flow-lists": "workspaces: " + "[" * 20000 + "]" * 20000 + "\n",
    "nesting-20000-unclosed": "[" * 20000,
    "nesting-20000-flow-maps": "workspaces: " + "{a: " * 20000 + "b" + "}" * 20000 + "\n",
    "nesting-20000-block": "".join(" " * i + "a:\n" for i in range(20000)),
    "not-utf8": b"\xff\xfeworkspaces:\n  - name: a\n",
    "latin1-in-a-value": b"workspaces:\n  - name: caf\xe9\n    dir: ws\n",
    "huge-file-6MB": "workspaces: []\n" + "# padding\n" * 600_000,
    "huge-single-key-1MB": "k" * (1 << 20) + ": 1\nworkspaces: []\n",
    "many-small-nodes-4.9MB": many_nodes(),
    "name-dotdot": workspace("../x"),
    "name-flag": workspace("-auto-approve"),
    "name-semicolon": workspace("a;b"),
    "name-escape": workspace("\x1b[31mred"),
    "python-tag": "workspaces: !!python/object/apply:os.system ['touch pwned']\n",
    "empty": "",
    "dependency-cycle-1000": yaml.safe_dump(
        {"workspaces": [{"name": f"w{i}", "dir": "ws", "dependsOn": [f"w{(i + 1) % 1000}"]} for i in range(1000)]}
    ),
}.items():
    ATTACKS[_name] = lambda root, content=_content: _config(root, content)

for _name, _content in {
    "tfvars-hcl-unterminated-string": 'region = "eu-west-1\n',
    "tfvars-hcl-unclosed-block": "tags = {\n  a = 1\n",
    "tfvars-hcl-garbage": "= = = ;;; }{\n",
    "tfvars-hcl-nesting-20000": "a = " + "[" * 20000 + "]" * 20000 + "\n",
    "tfvars-hcl-binary": bytes(range(256)) * 4,
    "tfvars-hcl-huge-20MB": "a = 1\n" + "# padding\n" * 2_000_000,
}.items():
    ATTACKS[_name] = lambda root, content=_content: _tfvars(root, "vars.tfvars", content)

for _name, _content in {
    "tfvars-json-invalid": '{"a": ',
    "tfvars-json-nesting-20000": "[" * 20000 + "]" * 20000,
    "tfvars-json-nesting-20000-object": '{"a": ' * 20000 + "1" + "}" * 20000,
}.items():
    ATTACKS[_name] = lambda root, content=_content: _tfvars(root, "vars.tfvars.json", content)


@attack("config-is-a-fifo")
def _fifo(root: Path) -> list[str]:
    os.mkfifo(root / "infra.yaml")
    return [str(root / "infra.yaml")]


@attack("config-is-dev-zero")
def _zero(root: Path) -> list[str]:
    return ["/dev/zero"]


@attack("config-symlink-loop")
def _loop(root: Path) -> list[str]:
    (root / "infra.yaml").symlink_to(root / "infra.yaml")
    return [str(root / "infra.yaml")]


@attack("tfvars-is-dev-zero")
def _tfvars_zero(root: Path) -> list[str]:
    (root / "ws" / "vars.tfvars").symlink_to("/dev/zero")
    return _config(root, workspace(tfvars="ws/vars.tfvars"))


@attack("selected-workspace-dotdot")
def _select_dotdot(root: Path) -> list[str]:
    return _config(root, workspace("a"), "-w", "../x")


@attack("selected-workspace-semicolon")
def _select_semicolon(root: Path) -> list[str]:
    return _config(root, workspace("a"), "-w", "a;b")


RESULTS: dict[str, Outcome] = {}


# `tfo plan` reads the config exactly as `tfo validate` does, then starts a server in the
# state dir: these cases check it fails before that, on every kind of input.
PLAN_TOO = {
    "alias-bomb",
    "nesting-20000-flow-maps",
    "not-utf8",
    "huge-file-6MB",
    "name-dotdot",
    "name-flag",
    "name-semicolon",
    "config-is-a-fifo",
    "tfvars-hcl-unterminated-string",
    "tfvars-is-dev-zero",
    "selected-workspace-dotdot",
    "selected-workspace-semicolon",
}
CASES = [("validate", name) for name in sorted(ATTACKS) if not name.startswith("selected-")]
CASES += [("plan", name) for name in sorted(PLAN_TOO)]


@pytest.mark.parametrize(("command", "name"), CASES, ids=[f"{c}-{n}" for c, n in CASES])
def test_attack_fails_clearly_within_limits(name: str, command: str, tmp_path: Path) -> None:
    sandbox = tmp_path.resolve() / "sandbox"
    root = sandbox / "infra"
    (root / "ws").mkdir(parents=True)
    args = ATTACKS[name](root)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(sandbox / "home"),
        "TMPDIR": str(sandbox / "tmp"),
        "XDG_STATE_HOME": str(sandbox / "xdg"),
        "TFO_LOG_DIR": str(sandbox / "logs"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    (sandbox / "tmp").mkdir()
    before = snapshot(sandbox)
    result = run_limited([command, *args], cwd=root, env=env, io_dir=tmp_path)
    after = snapshot(sandbox)
    RESULTS[f"{command} {name}"] = result

    shown = f"tfo {command} ({name}) -> {result.code}\n{result.stderr[-2000:]}"
    assert result.code == 1, shown
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfo: error: "), shown
    assert "Traceback" not in result.stderr + result.stdout, shown
    # Nothing was written anywhere, not even in the state dir: bad input stops before it.
    state_dir = str(Path("infra") / ".tfo")
    written = {p for p in set(after) ^ set(before) | {p for p in after if after[p] != before.get(p)}}
    assert {p for p in written if not p.startswith(state_dir)} == set(), written
    assert not (root / "pwned").exists()


def test_attack_figures() -> None:
    """Runs after the attacks (same module): record the worst time and memory seen."""
    if not RESULTS:
        pytest.skip("no attack ran")
    worst_time = max(RESULTS.items(), key=lambda item: item[1].seconds)
    worst_memory = max(RESULTS.items(), key=lambda item: item[1].max_rss_mb)
    record_figure("hostile input: attacks run (validate and plan)", len(RESULTS))
    record_figure("hostile input: slowest attack (s)", f"{worst_time[1].seconds:.2f} ({worst_time[0]})")
    record_figure("hostile input: peak RSS (MB)", f"{worst_memory[1].max_rss_mb:.0f} ({worst_memory[0]})")


# -- fuzzing --------------------------------------------------------------------------

KEYS = [
    "name",
    "dir",
    "dependsOn",
    "depends_on",
    "inputs",
    "operations",
    "tfvars",
    "vars",
    "taskQueue",
    "binary",
    "kind",
    "sourceWorkspace",
    "sourceOutput",
    "targetVar",
]
TOP_KEYS = ["workspace_root", "task_queue", "terraform", "workspaces", "schedules", "alerts", "tenants", "name"]
NAMES = st.one_of(
    st.sampled_from(["a", "b", "c", "vpc", "../x", "-auto-approve", "a;b", "a b", "", ".h", "x" * 80]),
    st.text(max_size=12),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20), NAMES)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=4),
    ),
    max_leaves=12,
)
WORKSPACE = st.fixed_dictionaries(
    {"name": NAMES},
    optional={
        "dir": st.sampled_from([".", "ws", "../ws", "/etc", "missing", "ws/../ws"]) | st.text(max_size=10),
        "dependsOn": st.lists(NAMES, max_size=4) | VALUES,
        "inputs": st.lists(
            st.fixed_dictionaries({"sourceWorkspace": NAMES, "sourceOutput": NAMES, "targetVar": NAMES}), max_size=3
        )
        | VALUES,
        "operations": st.lists(st.sampled_from(["init", "validate", "plan", "apply", "destroy"]), max_size=5),
        "tfvars": st.sampled_from(
            ["ws/good.tfvars", "ws/bad.tfvars", "ws/good.tfvars.json", "ws/missing.tfvars", "/dev/null", "ws"]
        ),
        "vars": VALUES,
        "taskQueue": NAMES,
        "binary": st.sampled_from(["terraform", "tofu", "/bin/sh", "a;b"]),
        "extra": VALUES,
    },
)
GOOD = ["a", "b", "c", "d"]
NEAR_VALID_WORKSPACE = st.fixed_dictionaries(
    {"name": st.sampled_from(GOOD), "dir": st.just("ws")},
    optional={
        "dependsOn": st.lists(st.sampled_from(GOOD), max_size=3),
        "inputs": st.lists(
            st.fixed_dictionaries(
                {
                    "sourceWorkspace": st.sampled_from(GOOD),
                    "sourceOutput": st.sampled_from(["id", "x"]),
                    "targetVar": st.sampled_from(["v", "w"]),
                }
            ),
            max_size=2,
        ),
        "operations": st.lists(st.sampled_from(["init", "validate", "plan", "apply"]), max_size=4, unique=True),
        "tfvars": st.sampled_from(["ws/good.tfvars", "ws/bad.tfvars", "ws/good.tfvars.json"]),
        "vars": st.dictionaries(st.sampled_from(["v", "w", "region"]), SCALARS, max_size=2),
    },
)
NEAR_VALID = st.fixed_dictionaries(
    {"workspaces": st.lists(NEAR_VALID_WORKSPACE, min_size=1, max_size=5, unique_by=lambda w: w["name"])},
    optional={
        "name": st.sampled_from(["demo", "a;b", "../x"]),
        "terraform": st.fixed_dictionaries(
            {},
            optional={
                "parallelism": st.integers(-1, 8),
                "lock_timeout": st.sampled_from(["30s", "5 minutes", "0s", "-1s"]),
            },
        ),
        "schedules": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["drift", "x y"])},
                optional={
                    "every": st.sampled_from(["15m", "0s", "1s", "soon"]),
                    "cron": st.sampled_from(["0 * * * *", "bad"]),
                    "workspaces": st.lists(st.sampled_from([*GOOD, "zz"]), max_size=2),
                },
            ),
            max_size=2,
        ),
    },
)
CONFIGS = st.one_of(
    NEAR_VALID,
    st.fixed_dictionaries(
        {"workspaces": st.lists(WORKSPACE, max_size=5)}, optional={k: VALUES for k in TOP_KEYS if k != "workspaces"}
    ),
    st.dictionaries(st.sampled_from(TOP_KEYS) | st.text(max_size=6), VALUES, max_size=5),
    VALUES,
)


class Fuzz:
    """One sandbox for a fuzz run: the CLI in-process, its output captured."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "ws").mkdir(parents=True)
        (root / "ws" / "good.tfvars").write_text('region = "eu-west-1"\ncount = 2\n')
        (root / "ws" / "bad.tfvars").write_text('region = "eu-west-1\n')
        (root / "ws" / "good.tfvars.json").write_text('{"region": "eu-west-1"}')
        self.path = root / "infra.yaml"
        self.cases = 0
        self.outcomes: dict[int, int] = {}
        self.slowest = 0.0

    def check(self, raw: bytes) -> None:
        self.path.write_bytes(raw)
        out, err = io.StringIO(), io.StringIO()
        began = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = tfo_main(["validate", str(self.path)])
        self.slowest = max(self.slowest, time.monotonic() - began)
        self.cases += 1
        self.outcomes[code] = self.outcomes.get(code, 0) + 1
        shown = f"exit {code}\ninput: {raw[:500]!r}\nstderr: {err.getvalue()[:2000]}"
        assert code in (0, 1), shown
        assert "Traceback" not in err.getvalue() + out.getvalue(), shown
        if code == 1:
            lines = err.getvalue().strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("tfo: error: "), shown
            assert str(self.path) in lines[0], shown


FUZZ_SETTINGS = settings(
    max_examples=FUZZ_CASES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def fuzz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    sandbox = tmp_path.resolve()
    monkeypatch.setenv("TFO_LOG_DIR", str(sandbox / "logs"))
    monkeypatch.setenv("XDG_STATE_HOME", str(sandbox / "xdg"))
    # The CLI builds its typer command at every start, ~15 ms that a process pays once:
    # build it once for the whole fuzz run, and keep everything else as `tfo` runs it.
    monkeypatch.setattr(typer.main, "get_command", functools.cache(typer.main.get_command))
    runner = Fuzz(sandbox / "infra")
    runner.path.write_text("")
    before = snapshot(sandbox)
    yield runner
    after = snapshot(sandbox)
    inputs = {"infra/infra.yaml", "infra/infra.yaml.tpl", "infra/ws/fuzz.tfvars"}
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)} - inputs
    assert changed == set(), changed  # validate writes nothing, not even a crash log


def test_fuzzed_documents(fuzz: Fuzz) -> None:
    @FUZZ_SETTINGS
    @given(CONFIGS)
    def case(doc: Any) -> None:
        fuzz.check(yaml.safe_dump(doc, allow_unicode=True).encode())

    case()
    record_figure("fuzz: generated documents run", fuzz.cases)
    record_figure("fuzz: generated documents exit 0 / 1", f"{fuzz.outcomes.get(0, 0)} / {fuzz.outcomes.get(1, 0)}")
    assert fuzz.cases >= FUZZ_CASES


def test_fuzzed_bytes(fuzz: Fuzz) -> None:
    seed = yaml.safe_dump(
        {
            "name": "demo",
            "terraform": {"binary": "terraform", "lock_timeout": "30s"},
            "workspaces": [
                {"name": "vpc", "dir": "ws", "tfvars": "ws/good.tfvars"},
                {
                    "name": "app",
                    "dir": "ws",
                    "dependsOn": ["vpc"],
                    "inputs": [{"sourceWorkspace": "vpc", "sourceOutput": "id", "targetVar": "vpc_id"}],
                },
            ],
            "schedules": [{"name": "drift", "every": "15m"}],
        }
    ).encode()

    @FUZZ_SETTINGS
    @given(st.lists(st.tuples(st.integers(0, len(seed)), st.integers(0, 3), st.binary(max_size=8)), max_size=8))
    def case(edits: list[tuple[int, int, bytes]]) -> None:
        raw = bytearray(seed)
        for at, drop, insert in edits:
            raw[at : at + drop] = insert
        fuzz.check(bytes(raw))

    case()
    record_figure("fuzz: mutated byte strings run", fuzz.cases)
    assert fuzz.cases >= FUZZ_CASES


def test_fuzzed_tfvars(fuzz: Fuzz) -> None:
    (fuzz.root / "infra.yaml.tpl").write_text(workspace("a", tfvars="ws/fuzz.tfvars"))
    target = fuzz.root / "ws" / "fuzz.tfvars"
    pieces = st.sampled_from(
        [
            'a = "x"\n',
            "b = [1, 2]\n",
            "c = {\n",
            "}\n",
            '"',
            "[",
            "]",
            "=",
            "${",
            "<<EOF\n",
            "EOF\n",
            "#",
            "/*",
            "\n",
            " ",
            "true",
            "null",
            "1e400",
            "\\",
            "\x00",
        ]
    )

    @FUZZ_SETTINGS
    @given(st.lists(pieces | st.text(max_size=6), max_size=20))
    def case(parts: list[str]) -> None:
        target.write_text("".join(parts))
        fuzz.check((fuzz.root / "infra.yaml.tpl").read_bytes())

    case()
    record_figure("fuzz: tfvars files run", fuzz.cases)
    assert fuzz.cases >= FUZZ_CASES
