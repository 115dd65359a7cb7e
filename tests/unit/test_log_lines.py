"""The one stderr line a failed activity gets (daemon/log_routing)."""

from __future__ import annotations

import logging

from temporalio.exceptions import ApplicationError

from tfo.activities.workspace_lock import lock_held
from tfo.config.errors import ErrorType
from tfo.daemon.log_routing import one_line


def failed(activity_id: str, exc: BaseException) -> logging.LogRecord:
    record = logging.LogRecord(
        "temporalio.activity", logging.WARNING, __file__, 1, "Completing activity as failed", (), (type(exc), exc, None)
    )
    record.temporal_activity = {  # type: ignore[attr-defined]
        "activity_id": activity_id,
        "activity_type": "plan_workspace",
        "workflow_id": "tfo-plan-stack-0123",
    }
    return record


def test_a_failed_inline_phase_names_its_workspace_and_run() -> None:
    error = ApplicationError("Unsupported argument (main.tf line 3)", type=ErrorType.INVALID, non_retryable=True)
    line = one_line(failed("vpc:3:1", error), show_activity_failures=True)
    assert line == "plan_workspace (vpc in tfo-plan-stack-0123) failed: Unsupported argument (main.tf line 3)"
    # An activity of a TerraformWorkflow child keeps the SDK's own ID: the run is named.
    line = one_line(failed("1", error), show_activity_failures=True)
    assert line == "plan_workspace (tfo-plan-stack-0123) failed: Unsupported argument (main.tf line 3)"


def test_a_lock_held_by_another_run_is_not_a_failure_line() -> None:
    assert one_line(failed("vpc:4:1", lock_held("tfo-apply-x")), show_activity_failures=True) is None


def test_the_cores_word_on_an_activity_finished_after_its_cancel_stays_in_the_file() -> None:
    """After Ctrl-C or a cancel, a plan that ends after its run stopped waiting is normal."""
    message = (
        "[sdk_core::temporalio_sdk_core::worker::activities] Activity not found on completion. This may happen "
        "if the activity has already been cancelled but completed anyway. {'task_token': 'TaskToken(Ci...)'}"
    )
    record = logging.LogRecord("temporalio.bridge", logging.WARNING, __file__, 1, message, (), None)
    assert one_line(record, show_activity_failures=True) is None
    other = logging.LogRecord("temporalio.bridge", logging.WARNING, __file__, 1, "[sdk_core] Poll failed", (), None)
    assert one_line(other, show_activity_failures=True) == "[sdk_core] Poll failed"
