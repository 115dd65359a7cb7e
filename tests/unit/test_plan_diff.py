"""Attribute-level diffs from plan items shaped as `terraform show -json` writes them."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfo.activities.plan_diff import bound_workspace, resource_diff
from tfo.config.payloads import (
    DIFF_MAX_ATTRIBUTES,
    DIFF_MAX_VALUE_CHARS,
    DIFF_MAX_WORKSPACE_BYTES,
    SENSITIVE,
    UNKNOWN_AFTER_APPLY,
    ResourceChange,
)

CANARY = "c4n4ry-s3cret-value"


def _item(address: str, actions: list[str], **change: Any) -> dict[str, Any]:
    return {
        "address": address,
        "mode": "managed",
        "type": address.split(".")[0],
        "name": address.split(".")[1],
        "provider_name": "registry.terraform.io/hashicorp/aws",
        "change": {
            "actions": actions,
            "before": None,
            "after": None,
            "after_unknown": {},
            "before_sensitive": False,
            "after_sensitive": False,
            **change,
        },
    }


def _attrs(rc: ResourceChange) -> dict[str, tuple[Any, Any]]:
    return {a.path: (a.before, a.after) for a in rc.attributes}


def _workspace_bytes(resources: list[ResourceChange]) -> int:
    return len(("[" + ",".join(r.model_dump_json() for r in resources) + "]").encode())


SECURITY_GROUP_BEFORE = {
    "arn": "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0a1b",
    "description": "web",
    "id": "sg-0a1b",
    "ingress": [
        {"cidr_blocks": ["10.0.0.0/8", "192.168.0.0/16"], "from_port": 443, "protocol": "tcp", "to_port": 443},
        {"cidr_blocks": ["0.0.0.0/0"], "from_port": 80, "protocol": "tcp", "to_port": 80},
    ],
    "name": "web",
    "tags": {"env": "prod", "owner": "alice"},
    "tags_all": {"env": "prod", "owner": "alice"},
}


def test_update_lists_changed_leaves_with_dotted_paths() -> None:
    after = json.loads(json.dumps(SECURITY_GROUP_BEFORE))
    after["ingress"][0]["cidr_blocks"] = ["10.0.0.0/8", "172.16.0.0/12"]
    after["ingress"].pop()
    after["tags"] = {"env": "prod", "owner": "bob", "team": "platform"}
    after["tags_all"] = None
    item = _item(
        "aws_security_group.web",
        ["update"],
        before=SECURITY_GROUP_BEFORE,
        after=after,
        after_unknown={"ingress": [{"cidr_blocks": [False, False]}], "tags": {}, "tags_all": True},
        before_sensitive={"ingress": [{"cidr_blocks": [False, False]}, {"cidr_blocks": [False]}], "tags": {}},
        after_sensitive={"ingress": [{"cidr_blocks": [False, False]}], "tags": {}},
    )
    rc = resource_diff(item, "update")
    assert rc.address == "aws_security_group.web" and rc.action == "update" and not rc.truncated
    assert _attrs(rc) == {
        "ingress.0.cidr_blocks.1": ("192.168.0.0/16", "172.16.0.0/12"),
        "ingress.1.cidr_blocks.0": ("0.0.0.0/0", None),
        "ingress.1.from_port": (80, None),
        "ingress.1.protocol": ("tcp", None),
        "ingress.1.to_port": (80, None),
        "tags.owner": ("alice", "bob"),
        "tags.team": (None, "platform"),
        "tags_all": ('{"env":"prod","owner":"alice"}', UNKNOWN_AFTER_APPLY),
    }
    assert [a.path for a in rc.attributes] == sorted(a.path for a in rc.attributes)


def test_paths_sort_indexes_as_numbers() -> None:
    before = {"ports": list(range(12))}
    after = {"ports": [p + 1 for p in range(12)]}
    rc = resource_diff(_item("aws_lb.main", ["update"], before=before, after=after), "update")
    assert [a.path for a in rc.attributes][:3] == ["ports.0", "ports.1", "ports.2"]
    assert rc.attributes[-1].path == "ports.11"


def test_replace_names_forcing_paths_and_masks_secrets() -> None:
    before = {
        "ami": "ami-0aaa",
        "id": "i-0123",
        "instance_type": "t3.micro",
        "user_data": "#!/bin/sh\necho " + CANARY,
        "root_block_device": [{"volume_size": 8, "kms_key_id": CANARY}],
        "tags": {"Name": "app"},
    }
    after = {
        "ami": "ami-0bbb",
        "instance_type": "t3.micro",
        "user_data": "#!/bin/sh\necho other-" + CANARY,
        "root_block_device": [{"volume_size": 8, "kms_key_id": CANARY + "-2"}],
        "tags": {"Name": "app"},
    }
    item = _item(
        "aws_instance.app",
        ["delete", "create"],
        before=before,
        after=after,
        after_unknown={"id": True, "root_block_device": [{}], "tags": {}},
        before_sensitive={"user_data": True, "root_block_device": [{"kms_key_id": True}], "tags": {}},
        after_sensitive={"user_data": True, "root_block_device": [{"kms_key_id": True}], "tags": {}},
        replace_paths=[["ami"], ["root_block_device", 0, "kms_key_id"]],
    )
    rc = resource_diff(item, "replace")
    assert rc.replace_paths == ["ami", "root_block_device.0.kms_key_id"]
    assert _attrs(rc) == {
        "ami": ("ami-0aaa", "ami-0bbb"),
        "id": ("i-0123", UNKNOWN_AFTER_APPLY),
        "root_block_device.0.kms_key_id": (SENSITIVE, SENSITIVE),
        "user_data": (SENSITIVE, SENSITIVE),
    }
    assert CANARY not in rc.model_dump_json()


def test_whole_object_sensitive_and_sensitivity_only_changes() -> None:
    before = {"settings": {"password": CANARY, "port": 5432}, "token": CANARY, "name": "db", "note": CANARY}
    after = {"settings": {"password": CANARY, "port": 5433}, "token": CANARY, "name": "db", "note": CANARY}
    item = _item(
        "aws_db_instance.main",
        ["update"],
        before=before,
        after=after,
        before_sensitive={"settings": True, "token": True},
        after_sensitive={"settings": True, "token": True, "note": True},
    )
    rc = resource_diff(item, "update")
    # An unchanged sensitive value is not listed; one that only became sensitive is, masked both sides.
    assert _attrs(rc) == {"note": (SENSITIVE, SENSITIVE), "settings": (SENSITIVE, SENSITIVE)}
    assert CANARY not in rc.model_dump_json()


def test_partially_sensitive_object_is_masked_when_rendered_whole() -> None:
    before = {"config": [{"secret": CANARY, "size": 1}]}
    after = {"config": {"secret": CANARY, "size": 2}}  # a list became a map: rendered as JSON
    item = _item(
        "azurerm_thing.x",
        ["update"],
        before=before,
        after=after,
        before_sensitive={"config": [{"secret": True}]},
        after_sensitive={"config": {"secret": True}},
    )
    rc = resource_diff(item, "update")
    assert _attrs(rc) == {
        "config": ('[{"secret":"(sensitive)","size":1}]', '{"secret":"(sensitive)","size":2}'),
    }


def test_create_summarises_non_null_after_with_unknowns() -> None:
    after = {
        "bucket": "logs",
        "force_destroy": False,
        "acl": None,
        "tags": {"env": "prod"},
        "grant": [],
        "lifecycle_rule": [{"enabled": True, "expiration": [{"days": 30}]}],
        "secret_name": CANARY,
    }
    item = _item(
        "aws_s3_bucket.logs",
        ["create"],
        after=after,
        after_unknown={"arn": True, "id": True, "tags": {}, "lifecycle_rule": [{"expiration": [{}]}]},
        after_sensitive={"secret_name": True, "tags": {}},
    )
    rc = resource_diff(item, "create")
    assert _attrs(rc) == {
        "arn": (None, UNKNOWN_AFTER_APPLY),
        "bucket": (None, "logs"),
        "force_destroy": (None, False),
        "grant": (None, "[]"),
        "id": (None, UNKNOWN_AFTER_APPLY),
        "lifecycle_rule.0.enabled": (None, True),
        "lifecycle_rule.0.expiration.0.days": (None, 30),
        "secret_name": (None, SENSITIVE),
        "tags.env": (None, "prod"),
    }


def test_delete_summarises_before_only() -> None:
    before = {"name": "old", "tags": {"a": "b"}, "password": CANARY}
    item = _item("aws_iam_user.old", ["delete"], before=before, before_sensitive={"password": True})
    rc = resource_diff(item, "delete")
    assert _attrs(rc) == {"name": ("old", None), "password": (SENSITIVE, None), "tags.a": ("b", None)}


def test_long_values_are_cut_and_marked_truncated() -> None:
    before = {"policy": "x" * 500, "list": []}
    after = {"policy": "y" * 500, "list": [{"k": "v" * 300}]}
    rc = resource_diff(_item("aws_iam_policy.p", ["update"], before=before, after=after), "update")
    policy = _attrs(rc)["policy"]
    assert policy == ("x" * (DIFF_MAX_VALUE_CHARS - 3) + "...", "y" * (DIFF_MAX_VALUE_CHARS - 3) + "...")
    assert rc.truncated
    assert all(len(v) <= DIFF_MAX_VALUE_CHARS for v in policy)


def test_deep_nesting_does_not_crash() -> None:
    deep: Any = "leaf"
    for _ in range(5000):
        deep = [deep]
    item = _item("x_deep.d", ["update"], before={"v": deep, "w": 1}, after={"v": [deep], "w": 2})
    rc = resource_diff(item, "update")
    assert {a.path for a in rc.attributes} >= {"w"}
    assert all(len(json.dumps(a.before)) <= DIFF_MAX_VALUE_CHARS + 2 for a in rc.attributes)


def test_500_changed_attributes_and_a_megabyte_value_stay_bounded() -> None:
    before = {"tags": {f"k{i:03}": f"old-{i}" for i in range(500)}, "user_data": "a" * 1_000_000}
    after = {"tags": {f"k{i:03}": f"new-{i}" for i in range(500)}, "user_data": "b" * 1_000_000}
    resources = [
        resource_diff(_item(f"aws_instance.n{n}", ["update"], before=before, after=after), "update") for n in range(30)
    ]
    first = resources[0]
    assert first.truncated and len(first.attributes) == DIFF_MAX_ATTRIBUTES
    assert all(len(str(a.before)) <= DIFF_MAX_VALUE_CHARS for a in first.attributes)
    assert _workspace_bytes(resources) > DIFF_MAX_WORKSPACE_BYTES
    assert bound_workspace(resources)
    assert _workspace_bytes(resources) <= DIFF_MAX_WORKSPACE_BYTES
    assert all(r.truncated and r.address for r in resources)
    assert len({len(r.attributes) for r in resources}) == 1  # the same cap for equal diffs


def test_bound_workspace_cuts_the_largest_first_and_keeps_addresses() -> None:
    small = resource_diff(_item("null_resource.small", ["update"], before={"a": 1}, after={"a": 2}), "update")
    big = resource_diff(
        _item("null_resource.big", ["update"], before={f"k{i}": i for i in range(50)}, after={}), "update"
    )
    resources = [small, big]
    budget = _workspace_bytes(resources) - 200
    assert bound_workspace(resources, budget)
    assert _workspace_bytes(resources) <= budget
    assert len(small.attributes) == 1 and not small.truncated
    assert big.truncated and 0 < len(big.attributes) < 50
    assert not bound_workspace(resources, budget)

    tiny_budget = 10  # addresses alone do not fit: every attribute goes, the resources stay
    assert bound_workspace(resources, tiny_budget)
    assert [(r.address, r.attributes) for r in resources] == [("null_resource.small", []), ("null_resource.big", [])]


def test_ten_thousand_resources_are_fast() -> None:
    items = [
        _item(
            f"aws_instance.n{n}",
            ["update"],
            before={**SECURITY_GROUP_BEFORE, "tags": {"n": str(n)}},
            after={**SECURITY_GROUP_BEFORE, "tags": {"n": str(n + 1)}, "description": "new"},
        )
        for n in range(10_000)
    ]
    start = time.perf_counter()
    resources = [resource_diff(item, "update") for item in items]
    bound_workspace(resources)
    assert time.perf_counter() - start < 20
    assert _workspace_bytes(resources) > 0 and len(resources) == 10_000


# -- property: bounds hold and nothing marked sensitive leaks, whatever the shape -------------


class _Secret:
    """A leaf marked sensitive."""


class _SecretTree:
    """A subtree marked sensitive as a whole (`true` above the leaves)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner


class _Unknown:
    """A leaf unknown until apply."""


_keys = st.text("abcdef_.", min_size=1, max_size=4)
_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=250),
    st.builds(_Secret),
    st.builds(_Unknown),
)
_trees = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=8),
        st.dictionaries(_keys, children, max_size=8),
        st.builds(_SecretTree, children),
    ),
    max_leaves=60,
)


def _split(tree: Any) -> tuple[Any, Any, Any]:
    """(value, sensitive marks, unknown marks) of a generated tree."""
    if isinstance(tree, _Secret):
        return CANARY * 20, True, False
    if isinstance(tree, _Unknown):
        return None, False, True
    if isinstance(tree, _SecretTree):
        return [CANARY, _split(tree.inner)[0]], True, False
    if isinstance(tree, dict):
        parts = {k: _split(v) for k, v in tree.items()}
        return (
            {k: p[0] for k, p in parts.items()},
            {k: p[1] for k, p in parts.items()},
            {k: p[2] for k, p in parts.items()},
        )
    if isinstance(tree, list):
        items = [_split(v) for v in tree]
        return [p[0] for p in items], [p[1] for p in items], [p[2] for p in items]
    return tree, False, False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.dictionaries(_keys, _trees, max_size=10),
    after=st.dictionaries(_keys, _trees, max_size=10),
    action=st.sampled_from(["update", "replace", "create", "delete"]),
)
def test_any_plan_item_is_bounded_and_never_leaks(before: Any, after: Any, action: str) -> None:
    b_value, b_sens, _ = _split(before)
    a_value, a_sens, a_unknown = _split(after)
    item = _item(
        "x_thing.t",
        ["update"],
        before=b_value,
        after=a_value,
        before_sensitive=b_sens,
        after_sensitive=a_sens,
        after_unknown=a_unknown,
        replace_paths=[[k] for k in a_value][:3],
    )
    rc = resource_diff(item, action)
    dumped = rc.model_dump_json()
    assert CANARY not in dumped and CANARY[:8] not in dumped
    assert len(rc.attributes) <= DIFF_MAX_ATTRIBUTES
    for attr in rc.attributes:
        for value in (attr.before, attr.after):
            assert value is None or isinstance(value, str | int | float | bool)
            if isinstance(value, str):
                assert len(value) <= DIFF_MAX_VALUE_CHARS
            else:
                assert len(json.dumps(value)) <= DIFF_MAX_VALUE_CHARS
    resources = [rc, rc.model_copy(deep=True)]
    bound_workspace(resources, budget=2048)
    floor = _workspace_bytes([r.model_copy(update={"attributes": [], "truncated": True}) for r in resources])
    assert _workspace_bytes(resources) <= max(2048, floor)
