"""tfo's error hierarchy. The CLI maps every `TfoError` to exit 1 with one line."""

from __future__ import annotations


class TfoError(Exception):
    """Base of every error tfo reports to a user as a one-line message."""


class ConfigError(TfoError):
    """infra.yaml (or a file it names) is invalid.

    Args:
        message: What is wrong, naming the culprit.
        path: The config file.
        line: The 1-based YAML line, when known.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path or "<config>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return _printable(f"{where}: {self.message}")


def _printable(text: str) -> str:
    """Escape control characters: a hostile name or key in the config must not be able to
    split the one-line error or write terminal escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class DependencyCycleError(ConfigError):
    """`dependsOn` forms a cycle; the message shows the whole path."""


class TerraformError(TfoError):
    """A terraform command failed."""


class NotificationError(TfoError):
    """An alert could not be delivered."""


class RunError(TfoError):
    """A run could not be started, found or controlled."""


class ConnectionFailedError(TfoError):
    """tfo could not reach (or start) a Temporal server."""


class ErrorType:
    """Stable `ApplicationError.type` values shared by activities and workflows."""

    CONFIG = "ConfigError"
    BINARY_MISSING = "TerraformBinaryMissing"
    BINARY_NOT_ALLOWED = "TerraformBinaryNotAllowed"
    INVALID = "TerraformInvalid"
    MISSING_VARIABLE = "MissingVariable"
    MISSING_OUTPUT = "MissingOutput"
    STATE_LOCKED = "StateLocked"
    TRANSIENT = "TerraformTransient"
    FAILED = "TerraformFailed"
    STALE_PLAN = "StalePlan"
    PLAN_ALREADY_APPLIED = "PlanAlreadyApplied"
    PLAN_TAMPERED = "PlanTampered"
    APPLY_FAILED = "ApplyFailed"
    APPLY_INTERRUPTED = "ApplyInterrupted"
    APPLY_TRANSIENT = "ApplyTransient"
    NEEDS_REVIEW = "NeedsReview"
    LOCKED = "WorkspaceLocked"
    # The plan or apply activity found the workspace's file lock held by another run;
    # the workflow waits and tries again, or fails with LOCKED under --no-wait.
    LOCK_HELD = "WorkspaceLockHeld"
    NO_WORKER = "NoWorker"
    POLICY_DENIED = "PolicyDenied"
    OUTPUT_TOO_LARGE = "OutputTooLarge"

    RETRYABLE = frozenset({STATE_LOCKED, TRANSIENT})
    # The saved plan can no longer be applied, but a fresh plan may: the workflow re-plans.
    REPLAN = frozenset({STALE_PLAN, APPLY_INTERRUPTED, APPLY_TRANSIENT})
