"""Data built from YAML events means what yaml.safe_load makes of it; lines on demand."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from tfo.config.errors import ConfigError
from tfo.config.yaml_source import parse_yaml

SAME_AS_SAFE_LOAD = [
    "a: 1\nb: [1, 2.5, true, null, ~, 'x', \"y\"]\nc: {d: e}\n",
    "when: 2024-01-02\nstamp: 2024-01-02T03:04:05Z\nhex: 0x1f\noct: 0o17\ninf: .inf\n",
    "s: !!str 123\ni: !!int '7'\nb: !!binary aGVsbG8=\nkey with spaces: v\n1: int key\n",
    "base: &base {x: 1, y: 2}\nuse: {<<: *base, y: 3}\n",
    "a: &a {k: a, only_a: 1}\nb: &b {k: b, only_b: 2}\nm: {<<: [*a, *b], own: 3}\n",
    "m: {<<: {k: first}, <<: {k: second}}\n",
    "list: &l [1, 2]\nagain: *l\nscalar: &s text\nref: *s\n",
    "- plain\n- |\n  block\n  text\n- >\n  folded\n  text\n",
    "empty:\nnested: {a: {b: {c: [[], {}]}}}\n",
    "---\nonly: one document\n...\n",
]


@pytest.mark.parametrize("text", SAME_AS_SAFE_LOAD)
def test_data_is_what_safe_load_makes_of_it(text: str) -> None:
    assert parse_yaml(text.encode(), source="t.yaml").data == yaml.safe_load(text)


def test_an_alias_shares_its_anchor_s_object() -> None:
    data = parse_yaml(b"a: &x [1]\nb: *x\n", source="t.yaml").data
    assert data["a"] is data["b"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a: *nope\n", "undefined alias"),
        ("a: &x [1, *x]\n", "undefined alias"),  # recursive
        ("a: !!map scalar\n", "cannot have the tag"),
        ("a: !!set {x: null}\n", "unsupported tag"),
        ("a: !custom 1\n", "YAML syntax error"),
        ("? [1, 2]\n: v\n", "unhashable"),
        ("m: {<<: 5}\n", "merge key"),
        ("a: 1\n---\nb: 2\n", "single YAML document"),
        ("- " * 70 + "x\n", "nesting deeper"),
    ],
)
def test_bad_documents_are_one_clear_error(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text.encode(), source="t.yaml")
    assert words in str(caught.value)


def test_lines_name_keys_items_and_their_parents() -> None:
    text = textwrap.dedent(
        """\
        name: x
        workspaces:
          - name: a
            dir: .
            inputs:
              - sourceWorkspace: b
                sourceOutput: id
          - {name: b, dir: .}
        tags: &t
          team: core
        copy: *t
        """
    )
    doc = parse_yaml(text.encode(), source="t.yaml")
    assert doc.line_of(()) == 1
    assert doc.line_of(("workspaces",)) == 2
    assert doc.line_of(("workspaces", 0)) == 3
    assert doc.line_of(("workspaces", 0, "dir")) == 4
    assert doc.line_of(("workspaces", 0, "inputs", 0, "sourceOutput")) == 7
    assert doc.line_of(("workspaces", 1, "name")) == 8
    assert doc.line_of(("workspaces", 1, "missing", 3)) == 8  # nearest enclosing path
    assert doc.line_of(("tags", "team")) == 10
    assert doc.line_of(("copy",)) == 11
