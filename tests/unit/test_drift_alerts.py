"""The bounds of a drift alert's body (workflows/drift_alerts.py): attributes per
resource and the body's length, on hand-built ledger state."""

from __future__ import annotations

from tfo.config.drift_config import AlertEvent, AlertsConfig
from tfo.config.drift_models import AlertRequest, DriftStatus, LedgerState, WorkspaceDrift
from tfo.config.payloads import AttributeChange, ChangeCounts, ResourceChange
from tfo.workflows.drift_alerts import MAX_ATTRIBUTES, MAX_BODY_CHARS, MAX_LISTED, make_alert

MORE_ATTRIBUTES = "      ... more attributes in `tfo show`"
CUT = "... (cut; see tfo show)"


def changed(address: str, count: int, *, value_chars: int = 5) -> ResourceChange:
    attributes = [
        AttributeChange(path=f"tags.k{i:02d}", before="a" * value_chars, after="b" * value_chars) for i in range(count)
    ]
    return ResourceChange(address=address, action="update", attributes=attributes)


def alert(*drift: ResourceChange) -> AlertRequest:
    ws = WorkspaceDrift(
        status=DriftStatus.DRIFTED,
        checked_at="2024-05-01T12:00:00+00:00",
        run_id="run-1",
        changes=ChangeCounts(update=len(drift)),
        drift=list(drift),
    )
    state = LedgerState(config="prod", alerts=AlertsConfig(urls=["json://127.0.0.1:9000/hook"]))
    made = make_alert(state, None, "vpc", ws, AlertEvent.DRIFT)
    assert made is not None
    return made


def test_a_resource_lists_at_most_ten_attributes_then_says_there_are_more() -> None:
    body = alert(changed("aws_security_group.web", MAX_ATTRIBUTES + 5)).body
    lines = body.splitlines()
    header = lines.index("  ~ aws_security_group.web")
    attribute_lines = [line for line in lines if line.startswith("      tags.k")]
    assert attribute_lines == [f'      tags.k{i:02d}: "aaaaa" -> "bbbbb"' for i in range(MAX_ATTRIBUTES)]
    assert lines[header + 1 : header + 1 + MAX_ATTRIBUTES] == attribute_lines
    assert lines[header + 1 + MAX_ATTRIBUTES] == MORE_ATTRIBUTES
    assert "tags.k10" not in body
    assert CUT not in body


def test_exactly_ten_attributes_need_no_more_line() -> None:
    body = alert(changed("aws_security_group.web", MAX_ATTRIBUTES)).body
    assert sum(line.startswith("      tags.k") for line in body.splitlines()) == MAX_ATTRIBUTES
    assert MORE_ATTRIBUTES not in body


def test_a_long_body_is_cut_to_the_limit_and_keeps_its_tail() -> None:
    # 20 resources x 10 attributes of ~420 characters: about 85,000 characters uncut.
    many = [changed(f"aws_s3_bucket.b{i:02d}", MAX_ATTRIBUTES + 1, value_chars=200) for i in range(MAX_LISTED)]
    body = alert(*many).body
    assert len(body) <= MAX_BODY_CHARS
    lines = body.splitlines()
    assert lines[-3] == CUT
    # The run and the command with the rest always survive the cut.
    assert lines[-2:] == ["run: run-1", "details: tfo show run-1 -w vpc"]
    assert lines[0] == "0 to create, 20 to update, 0 to delete, 0 to replace"
    assert "  ~ aws_s3_bucket.b00" in lines
    assert "  ~ aws_s3_bucket.b19" not in lines
    # Only whole lines are kept: every attribute line shown is complete.
    shown = [line for line in lines if line.startswith("      tags.k")]
    assert shown and all(line.endswith('"' + "b" * 200 + '"') for line in shown)
