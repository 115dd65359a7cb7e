"""A real PostgreSQL for tests: terraform's `pg` backend keeps state and locks in it.

`start_postgres()` runs `initdb` and `postgres` in a temp dir, listening on 127.0.0.1
on a free port only (no Unix socket), and `PostgresServer.stop()` stops it by PID.
The binaries come from, in this order:

- the machine: `postgres`/`initdb` on PATH, or Debian's /usr/lib/postgresql/*/bin;
- the `pgserver` package from PyPI (its wheel ships them under pgserver/pginstall/bin).

PostgreSQL refuses to run as root. As root, the harness runs initdb and the server as
an unprivileged user (`postgres` if the machine has one, else `nobody`) through
`subprocess.Popen(user=, group=)`, in a dir under the system temp dir that it gives
to that user (pytest's own tmp dirs are mode 0700, out of that user's reach).

The session fixture `postgres` yields the server; each test makes a fresh database
with `postgres.create_database()`. Queries go through the `psql` next to the server.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "tfo"
# A safety net against a hang, never an assertion about speed.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
_FIELD = "\x1f"


class PostgresUnavailable(Exception):
    """No PostgreSQL server can be had on this machine (the tests that need one skip)."""


@dataclass(frozen=True)
class AdvisoryLock:
    """One row of pg_locks for an advisory lock, with the key terraform passed.

    terraform's pg backend locks the `states.id` of a workspace's row, or -1 while it
    creates a workspace's first state (a database-wide lock).
    """

    key: int
    pid: int
    granted: bool
    application: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binaries_from_machine() -> Path | None:
    on_path = shutil.which("postgres")
    if on_path and shutil.which("initdb"):
        # Debian links them from /usr/lib/postgresql/N/bin, where psql is too.
        return Path(on_path).resolve().parent
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return debian[-1].parent if debian else None


def _binaries_from_pgserver() -> Path | None:
    try:
        spec = importlib.util.find_spec("pgserver")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
    return bin_dir if (bin_dir / "postgres").is_file() else None


def find_binaries() -> tuple[Path, str]:
    """The directory holding initdb, postgres and psql, and where it came from."""
    for finder, source in ((_binaries_from_machine, "machine"), (_binaries_from_pgserver, "pgserver (PyPI)")):
        bin_dir = finder()
        if bin_dir and all((bin_dir / tool).is_file() for tool in ("initdb", "postgres")):
            return bin_dir, source
    raise PostgresUnavailable(
        "no PostgreSQL server binaries: neither initdb/postgres on PATH or in /usr/lib/postgresql, "
        "nor the `pgserver` package"
    )


def _psql(bin_dir: Path) -> str:
    local = bin_dir / "psql"
    found = str(local) if local.is_file() else shutil.which("psql")
    if not found:
        raise PostgresUnavailable(f"no psql next to {bin_dir} or on PATH")
    return found


@dataclass(frozen=True)
class _RunAs:
    """Who initdb and postgres run as: None for this process's user."""

    uid: int
    gid: int
    name: str


def _unprivileged_user() -> _RunAs | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return _RunAs(entry.pw_uid, entry.pw_gid, name)
    raise PostgresUnavailable("running as root, and no unprivileged user (postgres, nobody) to run PostgreSQL as")


def _server_env() -> dict[str, str]:
    # Settings of this process's own database clients must not steer initdb or psql.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


@dataclass
class PostgresServer:
    """A running PostgreSQL; `conn_str` is for its `postgres` database."""

    bin_dir: Path
    source: str
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    run_as: str | None
    host: str = "127.0.0.1"
    user: str = SUPERUSER

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, database: str) -> str:
        return f"postgres://{self.user}@{self.host}:{self.port}/{database}?sslmode=disable"

    @property
    def conn_str(self) -> str:
        return self.url("postgres")

    def query(self, sql: str, *, database: str = "postgres") -> list[list[str]]:
        """Run `sql` with psql; each row as a list of text fields (NULL is "")."""
        proc = subprocess.run(
            [_psql(self.bin_dir), "-X", "-q", "-A", "-t", "-F", _FIELD, "-0", "-v", "ON_ERROR_STOP=1",
             "-d", self.url(database), "-c", sql],
            capture_output=True, text=True, env={**_server_env(), "PGCONNECT_TIMEOUT": "5"},
            stdin=subprocess.DEVNULL, timeout=60, check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed ({proc.returncode}) on {sql!r}: {proc.stderr.strip()}")
        # Records end in NUL (-0): a value such as a state's JSON spans lines.
        return [record.split(_FIELD) for record in proc.stdout.split("\0") if record]

    def create_database(self, prefix: str = "t") -> Database:
        """A new, empty database with a unique name."""
        name = re.sub(r"[^a-z0-9_]", "_", prefix.lower())[:40] + "_" + uuid.uuid4().hex[:8]
        self.query(f'CREATE DATABASE "{name}"')
        return Database(self, name)

    def log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Fast shutdown (SIGINT) by PID, then SIGKILL of its process group; remove its files."""
        proc = self.process
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class Database:
    server: PostgresServer
    name: str

    @property
    def conn_str(self) -> str:
        return self.server.url(self.name)

    def query(self, sql: str) -> list[list[str]]:
        return self.server.query(sql, database=self.name)

    def advisory_locks(self) -> list[AdvisoryLock]:
        """Advisory locks held or awaited in this database, by any session."""
        rows = self.query(
            "SELECT l.classid, l.objid, l.objsubid, l.pid, l.granted, coalesce(a.application_name, '') "
            "FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            f"WHERE l.locktype = 'advisory' AND d.datname = '{self.name}' AND l.pid <> pg_backend_pid()"
        )
        locks = []
        for classid, objid, objsubid, pid, granted, application in rows:
            if objsubid == "1":  # one bigint key: high half in classid, low half in objid
                key = (int(classid) << 32) | int(objid)
                key = key - (1 << 64) if key >= 1 << 63 else key
            else:  # two int4 keys; terraform never takes these
                key = int(objid)
            locks.append(AdvisoryLock(key=key, pid=int(pid), granted=granted == "t", application=application))
        return locks

    def states(self, schema: str) -> dict[str, str]:
        """terraform's pg backend rows in `schema`: workspace name -> state JSON."""
        return {name: data for name, data in self.query(f'SELECT name, data FROM "{schema}".states ORDER BY name')}

    def state_ids(self, schema: str) -> dict[str, int]:
        """Workspace name -> `states.id`, the advisory lock key terraform takes for it."""
        return {name: int(i) for i, name in self.query(f'SELECT id, name FROM "{schema}".states')}


def _start_once(bin_dir: Path, source: str, run_as: _RunAs | None) -> PostgresServer:
    # Under the system temp dir: pytest's tmp dirs are 0700, so another user could not reach them.
    root = Path(tempfile.mkdtemp(prefix="tfo-pg-"))
    data = root / "data"
    # Dropped in the child before exec (no preexec_fn); None keeps this process's user.
    uid, gid = (run_as.uid, run_as.gid) if run_as else (None, None)
    groups: list[int] | None = [] if run_as else None
    try:
        if run_as is not None:
            os.chown(root, run_as.uid, run_as.gid)
        initdb = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
             "--locale=C", "--no-sync"],
            capture_output=True, text=True, env=_server_env(), cwd=root, stdin=subprocess.DEVNULL,
            timeout=START_TIMEOUT, check=False, user=uid, group=gid, extra_groups=groups,
        )
        if initdb.returncode != 0:
            who = f" as user {run_as.name} (PostgreSQL refuses root)" if run_as else ""
            raise RuntimeError(f"initdb in {bin_dir} failed{who} ({initdb.returncode}): {initdb.stderr.strip()}")
        port = _free_port()
        with (root / "postgres.log").open("wb") as log:
            process = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                 "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                 # A throwaway cluster: durability buys nothing here.
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=_server_env(), cwd=root,
                start_new_session=True, user=uid, group=gid, extra_groups=groups,
            )
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    server = PostgresServer(bin_dir, source, root, port, process, run_as.name if run_as else None)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"postgres exited with {process.returncode}:\n{server.log()}")
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                if server.query("SELECT 1") == [["1"]]:
                    return server
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not accept connections in {START_TIMEOUT:.0f} s:\n{server.log()}")
            time.sleep(0.1)
    except BaseException:
        server.stop()
        raise


def start_postgres(*, attempts: int = 3) -> PostgresServer:
    """Start a throwaway PostgreSQL on 127.0.0.1.

    Raises:
        PostgresUnavailable: no server binaries, or no user they may run as.
        RuntimeError: the binaries are there but the server would not start.
    """
    bin_dir, source = find_binaries()
    _psql(bin_dir)
    run_as = _unprivileged_user()
    for attempt in range(1, attempts + 1):
        try:
            return _start_once(bin_dir, source, run_as)
        except RuntimeError as exc:
            # Another process may take the free port between the probe and the bind.
            if attempt == attempts or "could not bind" not in str(exc).lower():
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session", name="postgres")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session; skips only if this machine cannot run one."""
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL server available: {exc}")
    try:
        yield server
    finally:
        server.stop()
