"""Plan diffs rendered as text, as `tfo plan` prints them."""

from __future__ import annotations

from tfo.config.payloads import SENSITIVE, UNKNOWN_AFTER_APPLY, AttributeChange, ResourceChange
from tfo.daemon.diff_text import GREEN, RED, RESET, YELLOW, render_resources, render_workspaces

HINT = "tfo show 0f3c2a"


def _rc(
    address: str,
    action: str,
    *attrs: tuple[str, object, object],
    replace_paths: list[str] | None = None,
    truncated: bool = False,
) -> ResourceChange:
    attributes = [AttributeChange(path=p, before=b, after=a) for p, b, a in attrs]
    return ResourceChange(
        address=address, action=action, attributes=attributes, replace_paths=replace_paths or [], truncated=truncated
    )


UPDATE = _rc(
    "aws_security_group.web",
    "update",
    ("ingress.0.cidr_blocks.1", "192.168.0.0/16", "172.16.0.0/12"),
    ("tags.owner", "alice", "bob"),
    ("tags.team", None, "platform"),
    ("tags.env", "prod", None),
    ("port", 80, 8080),
)
REPLACE = _rc(
    "aws_instance.app",
    "replace",
    ("ami", "ami-0aaa", "ami-0bbb"),
    ("id", "i-0123", UNKNOWN_AFTER_APPLY),
    ("root_block_device.0.kms_key_id", SENSITIVE, SENSITIVE),
    replace_paths=["ami", "root_block_device.0"],
)
CREATE = _rc("aws_s3_bucket.logs", "create", ("bucket", None, "logs"), ("versioning", None, True))
DELETE = _rc("aws_iam_user.old", "delete", ("name", "old", None))


def test_resources_read_like_terraform_plan() -> None:
    lines = render_resources([UPDATE, REPLACE, CREATE, DELETE], color=False)
    assert lines == [
        "  ~ aws_security_group.web",
        '      ~ ingress.0.cidr_blocks.1: "192.168.0.0/16" -> "172.16.0.0/12"',
        '      ~ tags.owner: "alice" -> "bob"',
        '      + tags.team: "platform"',
        '      - tags.env: "prod"',
        "      ~ port: 80 -> 8080",
        "  -/+ aws_instance.app",
        '      ~ ami: "ami-0aaa" -> "ami-0bbb"  # forces replacement',
        '      ~ id: "i-0123" -> (known after apply)',
        "      ~ root_block_device.0.kms_key_id: (sensitive) -> (sensitive)  # forces replacement",
        "  + aws_s3_bucket.logs",
        '      + bucket: "logs"',
        "      + versioning: true",
        "  - aws_iam_user.old",
        '      - name: "old"',
    ]


def test_truncated_resource_points_at_the_full_diff() -> None:
    truncated = _rc("aws_instance.big", "update", ("a", 1, 2), truncated=True)
    lines = render_resources([truncated], color=False, indent="", more_hint=HINT)
    assert lines[0] == "~ aws_instance.big"
    assert lines[-1] == f"    # ... more attributes: {HINT}"


def test_colour_only_when_asked() -> None:
    plain = "\n".join(render_resources([UPDATE, REPLACE, CREATE, DELETE], color=False))
    assert "\033[" not in plain
    coloured = render_resources([UPDATE, REPLACE, CREATE, DELETE], color=True)
    assert coloured[0] == f"  {YELLOW}~{RESET} aws_security_group.web"
    assert coloured[6] == f"  {RED}-{RESET}/{GREEN}+{RESET} aws_instance.app"
    assert coloured[11] == f'      {GREEN}+{RESET} bucket: "logs"'
    assert coloured[13] == f"  {RED}-{RESET} aws_iam_user.old"


def test_strings_are_json_quoted() -> None:
    rc = _rc("x_y.z", "update", ("policy", 'say "hi"\n', "ünï"))
    assert render_resources([rc], color=False)[1] == '      ~ policy: "say \\"hi\\"\\n" -> "ünï"'


def test_workspaces_sorted_with_drift_and_outputs() -> None:
    drifted = _rc("aws_instance.app", "update", ("tags.Name", "app", "app-manual"))
    text = render_workspaces(
        {
            "web": ([UPDATE], [drifted], ["endpoint", "url"]),
            "db": ([], [], []),
            "net": ([CREATE], [], []),
        },
        color=False,
        max_lines=None,
        more_hint=HINT,
    )
    lines = text.splitlines()
    assert [line for line in lines if not line.startswith(" ")] == ["db", "net", "web"]
    assert lines[:2] == ["db", "  no changes"]
    assert lines[lines.index("web") :] == [
        "web",
        *render_resources([UPDATE], color=False),
        "  Changed outside terraform:",
        "    ~ aws_instance.app",
        '        ~ tags.Name: "app" -> "app-manual"',
        "  Changes to outputs:",
        "    ~ endpoint",
        "    ~ url",
    ]


def test_long_text_is_cut_with_a_hint() -> None:
    many = [_rc(f"null_resource.n{i}", "create", ("id", None, UNKNOWN_AFTER_APPLY)) for i in range(20)]
    full = render_workspaces({"ws": (many, [], [])}, color=False, max_lines=None, more_hint=HINT)
    assert len(full.splitlines()) == 41
    cut = render_workspaces({"ws": (many, [], [])}, color=False, max_lines=10, more_hint=HINT).splitlines()
    assert len(cut) == 10
    assert cut[:9] == full.splitlines()[:9]
    assert cut[-1] == f"... 32 more lines: {HINT}"
    short = render_workspaces({"ws": (many, [], [])}, color=False, max_lines=100, more_hint=HINT)
    assert short == full
