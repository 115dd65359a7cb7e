"""Where log records go: details to a private file, at most one line to stderr.

Without this, Python's last-resort handler printed every SDK warning in full on
stderr: a terraform error in any workspace came out as "Completing activity as
failed ... Traceback ...", although the run's report already says what failed.

- Every record at WARNING or above is written, with its traceback, to a log file
  in the private log dir (`daemon.log_files`), created on first use; its path is
  printed once.
- stderr gets at most one line per record. A terraform failure that tfo classified
  (an `ApplicationError`) gets none in the CLI, whose report shows it; the daemon
  and `tfo worker` show one line per failure a retry cannot fix. Retried attempts,
  and terraform's "Error acquiring the state lock" during tfo's own lock retries,
  go to the file only.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import IO

_ACTIVITY_FAILED = "Completing activity as failed"
_LOCK_TEXT = "Error acquiring the state lock"
# The SDK core's word on a race that an interrupt or a cancel makes normal: a finished
# activity whose run no longer waits for it. Kept in the file, never shown.
_BENIGN = ("Activity not found on completion",)
_SDK_CONTEXT = re.compile(r"\s*\(\{.*\}\)\s*$", re.DOTALL)  # the SDK appends its context dict
_MAX_LINE = 400


def route_logging(*, prefix: str = "tfo: ", show_activity_failures: bool = False) -> None:
    """Install tfo's two handlers on the root logger, replacing earlier ones of ours."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, (DetailFile, OneLine)):
            root.removeHandler(handler)
    detail = DetailFile(prefix=prefix)
    root.addHandler(detail)
    root.addHandler(OneLine(prefix=prefix, show_activity_failures=show_activity_failures))
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)


class DetailFile(logging.Handler):
    """Writes full records (tracebacks included) to a new private file, opened on first use."""

    def __init__(self, *, prefix: str) -> None:
        super().__init__(level=logging.WARNING)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._prefix = prefix
        self._stream: IO[str] | None = None
        self._broken = False
        self.path: Path | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._broken:
            return
        if self._stream is None:
            import os

            from tfo.config.errors import TfoError
            from tfo.daemon.log_files import new_log_file

            try:
                self.path, fd = new_log_file("tfo")
            except (OSError, TfoError) as exc:
                self._broken = True
                sys.stderr.write(f"{self._prefix}no log file for details: {exc}\n")
                return
            self._stream = os.fdopen(fd, "w", buffering=1)
            sys.stderr.write(f"{self._prefix}details of worker warnings and errors: {self.path}\n")
        try:
            self._stream.write(self.format(record) + "\n")
        except (OSError, ValueError):
            self.handleError(record)


class OneLine(logging.Handler):
    """At most one readable line per record on stderr, never a traceback."""

    def __init__(self, *, prefix: str, show_activity_failures: bool) -> None:
        super().__init__(level=logging.WARNING)
        self._prefix = prefix
        self._show_failures = show_activity_failures

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = one_line(record, show_activity_failures=self._show_failures)
            if line:
                sys.stderr.write(f"{self._prefix}{line}\n")
        except Exception:  # a log line must never break the command
            self.handleError(record)


def one_line(record: logging.LogRecord, *, show_activity_failures: bool) -> str | None:
    """The stderr line for a record, or None to keep it in the log file only."""
    message = _SDK_CONTEXT.sub("", record.getMessage())
    exc = record.exc_info[1] if record.exc_info else None
    if _LOCK_TEXT in message or (exc is not None and _LOCK_TEXT in str(exc)):
        return None
    if any(text in message for text in _BENIGN):
        return None
    if message.startswith(_ACTIVITY_FAILED):
        return _activity_failure(record, exc, show=show_activity_failures)
    line = _first_line(message)
    if exc is not None:
        line += f": {type(exc).__name__}: {_first_line(str(exc))}"
    return line[:_MAX_LINE]


def _activity_failure(record: logging.LogRecord, exc: BaseException | None, *, show: bool) -> str | None:
    from temporalio.exceptions import ApplicationError

    from tfo.config.errors import ErrorType

    info = getattr(record, "temporal_activity", None) or {}
    what = f"{info.get('activity_type', 'activity')} ({_where(info)})"
    if isinstance(exc, ApplicationError):
        # An error tfo classified: the run's report carries it. A retryable one is
        # retried (a lock held elsewhere, a network error): only its last word counts.
        # A workspace lock held by another run is waited for, and shown as waiting.
        if not show or not exc.non_retryable or exc.type == ErrorType.LOCK_HELD:
            return None
        return f"{what} failed: {_first_line(exc.message)}"[:_MAX_LINE]
    name = type(exc).__name__ if exc is not None else "error"
    return f"{what} failed unexpectedly: {name}: {_first_line(str(exc or ''))}"[:_MAX_LINE]


def _where(info: dict[str, str]) -> str:
    """The workspace and run of an inline phase's activity (workflows.activity_ids), else the run."""
    from tfo.workflows import activity_ids

    run = info.get("workflow_id", "?")
    inline = activity_ids.parse(str(info.get("activity_id", "")))
    return f"{inline[0]} in {run}" if inline else run


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""
