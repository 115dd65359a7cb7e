"""The `tfo` entry point: run the CLI and map every outcome to an exit code.

Exit codes: 0 success, 1 a tfo error (one line on stderr), 2 usage error or
"changes present" for `tfo plan`, 3 an unexpected error (traceback in a log file),
130 Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path

import typer
from typer._click.exceptions import ClickException  # typer vendors click

from tfo.config.errors import TfoError
from tfo.daemon.interrupt import SIGNALS, Interrupted, raise_interrupted


def _write_crash_log() -> Path:
    """The traceback, in a new private file (see `daemon.log_files`)."""
    from tfo.daemon.log_files import new_log_file

    path, fd = new_log_file("crash")
    with os.fdopen(fd, "w") as handle:
        handle.write(f"tfo {' '.join(sys.argv[1:])}\n\n{traceback.format_exc()}")
    return path


def _hint(exc: Interrupted | None) -> str:
    run_id = exc.run_id if exc is not None else None
    if run_id:
        return f"tfo: interrupted; run {run_id} is kept: re-run the same command, or `tfo resume {run_id}`"
    return "tfo: interrupted; an unfinished run continues when you re-run the same command or `tfo resume RUN_ID`"


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code instead of exiting."""
    from tfo.daemon.cli import app

    # Both signals stop a command the same way (see daemon.interrupt); asyncio code
    # replaces these handlers with ones that cancel its main task first.
    for signum in SIGNALS:
        signal.signal(signum, raise_interrupted)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="tfo", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except ClickException as exc:
        exc.show()
        return exc.exit_code
    except Interrupted as exc:
        print(_hint(exc), file=sys.stderr)
        return 130
    except (typer.Abort, KeyboardInterrupt):
        print(_hint(None), file=sys.stderr)
        return 130
    except TfoError as exc:
        print(f"tfo: error: {exc}", file=sys.stderr)
        return 1
    except Exception:
        try:
            path = _write_crash_log()
        except (OSError, TfoError) as log_error:
            print(f"tfo: unexpected error; no crash log written: {log_error}", file=sys.stderr)
            return 3
        print(f"tfo: unexpected error; details written to {path}", file=sys.stderr)
        return 3
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point.

    It ends with `os._exit` after flushing, so that the Temporal SDK's occasional
    abort at interpreter exit (sdk-python#300) can never change the exit code.
    """
    from tfo.daemon.log_routing import route_logging

    route_logging()
    code = run()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
