"""The `tfo` entry point: run the CLI and map every outcome to an exit code.

Exit codes: 0 success, 1 a tfo error (one line on stderr), 2 usage error or
"changes present" for `tfo plan`, 3 an unexpected error (traceback in a log file),
130 Ctrl-C.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path

import typer
from typer._click.exceptions import ClickException  # typer vendors click

from tfo.config.errors import TfoError


def _crash_log_dir() -> Path:
    base = os.environ.get("TFO_LOG_DIR") or os.environ.get("XDG_STATE_HOME")
    if base:
        return Path(base) / "tfo"
    return Path(tempfile.gettempdir()) / "tfo-logs"


def _write_crash_log() -> Path:
    directory = _crash_log_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = directory / f"crash-{stamp}-{os.getpid()}.log"
    path.write_text(f"tfo {' '.join(sys.argv[1:])}\n\n{traceback.format_exc()}")
    return path


def _terminate(signum: int, _frame: object) -> None:
    # Unwind like Ctrl-C, so workers stop cleanly and an embedded server is shut down.
    raise KeyboardInterrupt


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code instead of exiting."""
    from tfo.daemon.cli import app

    signal.signal(signal.SIGTERM, _terminate)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="tfo", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except ClickException as exc:
        exc.show()
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print(
            "tfo: interrupted; an unfinished run continues when you re-run the same command or `tfo resume RUN_ID`",
            file=sys.stderr,
        )
        return 130
    except TfoError as exc:
        print(f"tfo: error: {exc}", file=sys.stderr)
        return 1
    except Exception:
        path = _write_crash_log()
        print(f"tfo: unexpected error; details written to {path}", file=sys.stderr)
        return 3
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point.

    It ends with `os._exit` after flushing, so that the Temporal SDK's occasional
    abort at interpreter exit (sdk-python#300) can never change the exit code.
    """
    code = run()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
