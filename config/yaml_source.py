"""Safe YAML reading that remembers the line of every key and item.

Hostile input fails fast: bytes that are not UTF-8, huge files, deep nesting and
alias bombs are rejected before any object is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tfo.config.errors import ConfigError
from tfo.config.files import read_limited

# libyaml's parser, when PyYAML has it (its wheels do), is 10-20x faster than the pure
# Python one: a document near MAX_BYTES then parses in about a second, not a minute.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64
# Enough for a config of 10,000 workspaces and more (about 25 nodes each).
MAX_NODES = 1_000_000

Loc = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """A parsed YAML document and the 1-based line of every path in it."""

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """The line of `loc`, or of its nearest enclosing path."""
        while True:
            if loc in self.lines:
                return self.lines[loc]
            if not loc:
                return None
            loc = loc[:-1]


def read_yaml(path: Path) -> YamlDocument:
    """Read and parse one YAML file into plain Python data."""
    raw = read_limited(path, limit=MAX_BYTES, what="file")
    return parse_yaml(raw, source=str(path))


def parse_yaml(raw: bytes, *, source: str) -> YamlDocument:
    """Parse YAML bytes; `source` names them in errors."""
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"file is too large ({len(raw)} bytes; the limit is {MAX_BYTES})", path=source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not valid UTF-8 (byte {exc.start})", path=source) from None
    if not text.strip():
        raise ConfigError("the file is empty", path=source)
    _check_shape(text, source)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError("the file holds no YAML document", path=source)
        _check_expanded_size(node, source)
        lines: dict[Loc, int] = {}
        _record_lines(node, (), lines)
        # Built from the node already composed: the text is parsed once, not twice.
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, source) from None
    finally:
        loader.dispose()
    return YamlDocument(data=data, lines=lines)


def _syntax_error(exc: yaml.YAMLError, source: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return ConfigError(
        f"YAML syntax error: {problem}",
        path=source,
        line=(mark.line + 1) if mark is not None else None,
    )


def _check_shape(text: str, source: str) -> None:
    """Reject deep nesting and too many nodes from the event stream, which the parser
    builds iteratively, before any node is built."""
    depth = 0
    events = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            events += 1
            if events > MAX_NODES:
                raise ConfigError(f"document has more than {MAX_NODES} nodes", path=source)
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ConfigError(
                        f"nesting deeper than {MAX_DEPTH} levels",
                        path=source,
                        line=event.start_mark.line + 1 if event.start_mark else None,
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, source) from None


def _check_expanded_size(root: yaml.Node, source: str) -> None:
    """Count nodes as if every alias were expanded; stops alias bombs."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        sizes[key] = min(total, MAX_NODES + 1)
        return sizes[key]

    if size(root) > MAX_NODES:
        raise ConfigError(
            f"document expands to more than {MAX_NODES} nodes (an alias bomb?)", path=source
        )


def _record_lines(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                lines[(*loc, key.value)] = key.start_mark.line + 1
                _record_lines(value, (*loc, key.value), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _record_lines(child, (*loc, index), lines)
