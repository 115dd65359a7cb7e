"""Classifying terraform failures into retryable and non-retryable errors."""

from __future__ import annotations

import re
from pathlib import Path

from temporalio.exceptions import ApplicationError

from tfo.activities.binary_policy import BinaryNotAllowedError
from tfo.activities.runner import CommandResult
from tfo.activities.tf_diagnostics import VariableSources, describe
from tfo.config.errors import ErrorType, TerraformError

_TRANSIENT = re.compile(
    r"(i/o timeout|connection reset|connection refused|TLS handshake timeout|"
    r"no such host|Throttling|Rate exceeded|RequestLimitExceeded|TooManyRequests|"
    r"status code:? 5\d\d|503 Service Unavailable|temporarily unavailable)",
    re.IGNORECASE,
)


def error_summary(*texts: str, sources: VariableSources | None = None) -> str:
    """terraform's errors, each with its detail and location, as one bounded line."""
    return describe(*texts, sources=sources)


def classify(
    result: CommandResult, *, workspace: str | None = None, sources: VariableSources | None = None
) -> ApplicationError:
    """The ApplicationError to raise for a failed command.

    Args:
        workspace: Named in the message only when it is not the failing workspace
            itself (reading an upstream's outputs): a run's report already keys every
            error by its workspace.
        sources: Where the workspace's variables came from, to point a variable's
            error at the user's own file instead of tfo's temporary var file.
    """
    text = result.stderr + result.stdout
    # terraform >= 1.4 prints some init diagnostics on stdout, so search both.
    summary = error_summary(result.stderr, result.stdout, sources=sources)
    prefix = f"{workspace}: " if workspace else ""
    message = f"{prefix}terraform {result.command} failed: {summary}"
    if "Error acquiring the state lock" in text:
        return _error(f"{prefix}state is locked by another process: {summary}", ErrorType.STATE_LOCKED)
    if "Saved plan is stale" in text and result.command != "apply":
        # The state changed between this activity's own plan and show (someone ran
        # terraform there): planning again is the fix, so let Temporal retry.
        return _error(f"{prefix}state changed while planning; planning again", ErrorType.TRANSIENT)
    if "Saved plan is stale" in text:
        return _error(
            f"{prefix}the saved plan is stale (state changed since it was made); "
            "run tfo apply again to plan afresh",
            ErrorType.STALE_PLAN,
        )
    if "No value for required variable" in text:
        return _error(message, ErrorType.MISSING_VARIABLE)
    if result.command == "apply" and "Interrupt received" in text:
        return _error(f"{prefix}terraform apply was interrupted; its state was saved", ErrorType.APPLY_INTERRUPTED)
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


def binary_error(exc: TerraformError, *, workspace: str | None = None) -> ApplicationError:
    """A binary that is missing, or that this worker does not allow: retrying cannot help."""
    kind = ErrorType.BINARY_NOT_ALLOWED if isinstance(exc, BinaryNotAllowedError) else ErrorType.BINARY_MISSING
    return non_retryable(f"{workspace}: {exc}" if workspace else str(exc), kind)


def non_retryable(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def require_dir(directory: str) -> None:
    """A workspace dir that is not there fails its workspace with one line."""
    if not Path(directory).is_dir():
        raise non_retryable(f"dir {directory} does not exist", ErrorType.CONFIG)
