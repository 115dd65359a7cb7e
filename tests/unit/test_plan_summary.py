"""PlanSummary from `terraform show -json`, on plan documents shaped like terraform's."""

from __future__ import annotations

import pytest

from tfo.activities.plan_summary import action_of, summarize


def _rc(address: str, actions: list[str], mode: str = "managed") -> dict:
    return {"address": address, "mode": mode, "change": {"actions": actions}}


def test_counts_and_addresses_come_from_resource_changes() -> None:
    plan = {
        "terraform_version": "1.0.3",
        "resource_changes": [
            _rc("null_resource.a", ["create"]),
            _rc("null_resource.b", ["update"]),
            _rc("null_resource.c", ["delete", "create"]),
            _rc("null_resource.d", ["create", "delete"]),
            _rc("null_resource.e", ["delete"]),
            _rc("null_resource.f", ["no-op"]),
            _rc("data.x.y", ["read"], mode="data"),
        ],
    }
    summary = summarize(plan)
    assert summary.changes.model_dump() == {"create": 1, "update": 1, "delete": 1, "replace": 2}
    assert [(r.address, r.action) for r in summary.resources] == [
        ("null_resource.a", "create"),
        ("null_resource.b", "update"),
        ("null_resource.c", "replace"),
        ("null_resource.d", "replace"),
        ("null_resource.e", "delete"),
    ]
    assert summary.has_changes and summary.terraform_version == "1.0.3"


def test_refresh_only_noise_is_no_change() -> None:
    # terraform's exit code says "changes" here; the JSON says nothing changes.
    summary = summarize({"resource_changes": [], "output_changes": {"o": {"actions": ["no-op"], "before": 1}}})
    assert not summary.has_changes
    assert summary.outputs["o"].value == 1


def test_outputs_are_what_state_holds_not_what_plan_computes() -> None:
    plan = {
        "output_changes": {
            "host": {"actions": ["update"], "before": "old", "after": "new", "before_sensitive": False},
            "fresh": {"actions": ["create"], "before": None, "after": "x"},
            "password": {"actions": ["no-op"], "before": "s3cret", "after": "s3cret", "before_sensitive": True},
        },
        "prior_state": {"values": {"outputs": {"host": {"value": "new"}, "fresh": {"value": "x"}}}},
    }
    summary = summarize(plan)
    assert summary.outputs["host"].value == "old"
    assert "fresh" not in summary.outputs
    assert summary.outputs["password"].sensitive and summary.outputs["password"].value is None
    assert summary.outputs["password"].display() == "(sensitive)"
    assert summary.output_changes == ["fresh", "host"]


def test_resource_drift_is_reported_where_terraform_gives_it() -> None:
    summary = summarize({"resource_drift": [_rc("null_resource.a", ["delete"]), _rc("null_resource.b", ["update"])]})
    assert [(r.address, r.action) for r in summary.drift] == [
        ("null_resource.a", "delete"),
        ("null_resource.b", "update"),
    ]


def test_action_of_rejects_reads_and_noops() -> None:
    assert action_of(["read"]) is None
    assert action_of(["no-op"]) is None
    assert action_of([]) is None


def test_error_summary_prefers_the_error_with_a_location() -> None:
    from tfo.activities.failures import error_summary

    text = (
        "Error: Terraform encountered problems during initialisation, including problems\n\n"
        "Error: Invalid expression\n\n  on main.tf line 3, in resource:\n"
    )
    assert error_summary(text) == "Invalid expression (main.tf line 3)"
    assert error_summary("│ Error: Saved plan is stale\n") == "Saved plan is stale"


def test_drift_borrows_sensitivity_that_terraform_1_0_leaves_out() -> None:
    """terraform 1.0 writes resource_drift with `before_sensitive: {}`: never show the secret."""
    before = {"content": "c", "secret": "OLD-SECRET"}
    after = {"content": "c", "secret": "NEW-SECRET"}
    plan = {
        "terraform_version": "1.0.3",
        "resource_drift": [{"address": "x.s", "change": {
            "actions": ["update"], "before": before, "after": after, "before_sensitive": {}, "after_sensitive": {}}}],
        "resource_changes": [{"address": "x.s", "change": {
            "actions": ["update"], "before": after, "after": before,
            "before_sensitive": {"secret": True}, "after_sensitive": {"secret": True}}}],
    }  # fmt: skip
    summary = summarize(plan)
    dumped = summary.model_dump_json()
    assert "SECRET" not in dumped
    (drift,) = summary.drift
    assert [(a.path, a.before, a.after) for a in drift.attributes] == [("secret", "(sensitive)", "(sensitive)")]


def test_outputs_travel_by_value_only_while_small() -> None:
    from temporalio.exceptions import ApplicationError

    from tfo.activities.plan_summary import redact_outputs
    from tfo.config.plan_models import OUTPUT_INLINE_BYTES, OUTPUTS_INLINE_BYTES

    small = {"id": {"value": "vpc-1"}, "secret": {"value": "s3cret", "sensitive": True}}
    out = redact_outputs({**small, "ca": {"value": "x" * (OUTPUT_INLINE_BYTES + 1)}})
    assert out["id"].value == "vpc-1" and not out["id"].by_reference
    assert out["secret"].value is None and out["secret"].by_reference
    assert out["ca"].value is None and out["ca"].size == OUTPUT_INLINE_BYTES + 3
    # Many medium values: the smallest travel, until the workspace's budget is spent.
    many = {f"o{i}": {"value": "y" * (40 * 1024 + i)} for i in range(5)}
    kept = redact_outputs(many)
    carried = [name for name, value in kept.items() if not value.by_reference]
    assert carried == ["o0", "o1", "o2"]  # 3 x 40 KiB fit in the 128 KiB budget, a 4th does not
    assert 3 * 40 * 1024 < OUTPUTS_INLINE_BYTES < 4 * 40 * 1024
    with pytest.raises(ApplicationError) as caught:
        redact_outputs({"blob": {"value": "z" * (3 * 1024 * 1024)}})
    assert caught.value.type == "OutputTooLarge" and caught.value.non_retryable
    assert caught.value.message.startswith("output blob is 3.0 MiB")
