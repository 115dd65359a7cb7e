"""IDs of a workspace phase's activities when the run calls them itself: WORKSPACE:TRY:N.

TRY counts the run's tries at a phase (waiting for a lock starts a new one) and N the
activities of that try. Logs and tests read the workspace back from them; activities
of a TerraformWorkflow child keep the SDK's own IDs ("1", "2", ...). Pure: the CLI's
log routing imports it without the workflow code.
"""

from __future__ import annotations


def phase_prefix(workspace: str, try_number: int) -> str:
    """The prefix of one try's activity IDs, to which the phase appends N."""
    return f"{workspace}:{try_number}:"


def parse(activity_id: str) -> tuple[str, str] | None:
    """(workspace, "WORKSPACE:TRY") of an inline phase's activity, or None for another ID."""
    parts = activity_id.rsplit(":", 2)
    if len(parts) != 3:
        return None
    return parts[0], f"{parts[0]}:{parts[1]}"
