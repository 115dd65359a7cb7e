"""Every retry policy and activity timeout lives here."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

with __import__("temporalio").workflow.unsafe.imports_passed_through():
    from tfo.config.errors import ErrorType

_NON_RETRYABLE = [
    ErrorType.CONFIG,
    ErrorType.BINARY_MISSING,
    ErrorType.BINARY_NOT_ALLOWED,
    ErrorType.INVALID,
    ErrorType.MISSING_VARIABLE,
    ErrorType.MISSING_OUTPUT,
    ErrorType.FAILED,
    ErrorType.STALE_PLAN,
    ErrorType.PLAN_ALREADY_APPLIED,
    ErrorType.PLAN_TAMPERED,
    ErrorType.APPLY_FAILED,
    ErrorType.APPLY_INTERRUPTED,
    ErrorType.APPLY_TRANSIENT,
    ErrorType.NEEDS_REVIEW,
]

# Transient failures (a held state lock, provider network errors) back off exponentially.
TERRAFORM = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
    non_retryable_error_types=_NON_RETRYABLE,
)

# Bookkeeping activities (lock holder look-up, file clean-up) are cheap and idempotent.
BOOKKEEPING = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=10,
)
BOOKKEEPING_TIMEOUT = timedelta(seconds=30)

# A saved plan that went stale, or an apply that was interrupted or hit a transient
# error, is re-planned and applied again at most this many times, with this backoff.
APPLY_RECOVERIES = 3
APPLY_RECOVERY_BACKOFF = timedelta(seconds=5)

# How often a run re-tries a workspace whose lock another run holds.
LOCK_POLL_INITIAL = timedelta(seconds=1)
LOCK_POLL_MAX = timedelta(seconds=10)

# How often a run re-asks whether a worker polls a workspace's task queue.
WORKER_POLL_INITIAL = timedelta(seconds=1)
WORKER_POLL_MAX = timedelta(seconds=15)

# Resolving a git ref: a repository that is down gets a few tries; a ref or commit
# that does not exist (SourceMissing) fails the run at once.
SOURCE = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=["SourceMissing"],
)

# How long an apply waits for the worker that made its plan (cluster mode) before any
# worker of the workspace's queue takes it, fetching the plan from the artifact store.
PLANNER_WAIT = timedelta(seconds=10)
