"""Classifying terraform failures into retryable and non-retryable errors."""

from __future__ import annotations

import re

from temporalio.exceptions import ApplicationError

from tfo.activities.runner import CommandResult
from tfo.config.errors import ErrorType

_TRANSIENT = re.compile(
    r"(i/o timeout|connection reset|connection refused|TLS handshake timeout|"
    r"no such host|Throttling|Rate exceeded|RequestLimitExceeded|TooManyRequests|"
    r"status code:? 5\d\d|503 Service Unavailable|temporarily unavailable)",
    re.IGNORECASE,
)
_LOCATION = re.compile(r"on (\S+) line (\d+)")


def error_summary(text: str) -> str:
    """terraform's most specific `Error:` line, with its file and line when given.

    terraform >= 1.4 opens init failures with a generic "encountered problems"
    error, so an error that names a file and line is preferred.
    """
    lines = [line.strip(" │╷╵").strip() for line in text.splitlines()]
    found: list[str] = []
    for i, line in enumerate(lines):
        if not line.startswith("Error:"):
            continue
        summary = line.removeprefix("Error:").strip()
        for follow in lines[i + 1 : i + 6]:
            match = _LOCATION.search(follow)
            if match:
                return f"{summary} ({match.group(1)} line {match.group(2)})"
            if follow.startswith("Error:"):
                break
        found.append(summary)
    if found:
        return found[0]
    tail = [line for line in lines if line]
    return tail[0] if tail else "no error output"


def classify(result: CommandResult, *, workspace: str) -> ApplicationError:
    """The ApplicationError to raise for a failed command."""
    text = result.stderr + result.stdout
    # terraform >= 1.4 prints some init diagnostics on stdout, so search both.
    summary = error_summary(result.stderr + "\n" + result.stdout)
    message = f"{workspace}: terraform {result.command} failed: {summary}"
    if "Error acquiring the state lock" in text:
        return _error(f"{workspace}: state is locked by another process: {summary}", ErrorType.STATE_LOCKED)
    if "Saved plan is stale" in text and result.command != "apply":
        # The state changed between this activity's own plan and show (someone ran
        # terraform there): planning again is the fix, so let Temporal retry.
        return _error(f"{workspace}: state changed while planning; planning again", ErrorType.TRANSIENT)
    if "Saved plan is stale" in text:
        return _error(
            f"{workspace}: the saved plan is stale (state changed since it was made); "
            "run tfo apply again to plan afresh",
            ErrorType.STALE_PLAN,
        )
    if "No value for required variable" in text:
        return _error(message, ErrorType.MISSING_VARIABLE)
    if result.command == "apply" and "Interrupt received" in text:
        return _error(f"{workspace}: terraform apply was interrupted; its state was saved", ErrorType.APPLY_INTERRUPTED)
    if _TRANSIENT.search(text):
        # A failed apply may have changed state, so its saved plan is never retried: re-plan.
        return _error(message, ErrorType.APPLY_TRANSIENT if result.command == "apply" else ErrorType.TRANSIENT)
    if result.command in ("init", "validate"):
        return _error(message, ErrorType.INVALID)
    if result.command == "apply":
        return _error(message, ErrorType.APPLY_FAILED)
    return _error(message, ErrorType.FAILED)


def _error(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=kind not in ErrorType.RETRYABLE)


def non_retryable(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)
