"""Ctrl-C and SIGTERM: stop a command the same way, promptly and cleanly.

A signal cancels the command's main task only, so that its own cleanup runs in order:
the workers shut down, which cancels their activities, and a cancelled activity sends
SIGINT to terraform and waits for it to release its lock. Then `Interrupted` carries
the news to `daemon.main`, which prints the resume hint and exits 130.

`Interrupted` is a BaseException (like KeyboardInterrupt) so that no `except
Exception` swallows it, but not a KeyboardInterrupt, which typer would turn into a
bare exit 130 before tfo could say anything.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """SIGINT or SIGTERM asked the command to stop.

    Args:
        run_id: The run the command was following, if any: the hint names it.
    """

    def __init__(self, signum: int = signal.SIGINT, run_id: str | None = None) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.run_id = run_id


def raise_interrupted(signum: int, _frame: object) -> None:
    """A plain signal handler for the synchronous parts of a command."""
    raise Interrupted(signum)


def run_until_signal(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, where SIGINT and SIGTERM cancel `main` and raise Interrupted.

    A second signal while `main` cleans up is ignored: the cleanup is what stops
    terraform, and it is bounded by the runner's grace period.
    """

    async def guarded() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        received: list[int] = []

        def on_signal(signum: int) -> None:
            if not received:
                received.append(signum)
                task.cancel()

        previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
        for sig in SIGNALS:
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            result = await main
        except asyncio.CancelledError:
            if received:
                raise Interrupted(received[0]) from None
            raise
        finally:
            for sig, handler in previous.items():
                loop.remove_signal_handler(sig)  # it resets to the default, not to `handler`
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if received:  # `main` swallowed the cancellation
            raise Interrupted(received[0])
        return result

    return asyncio.run(guarded())
