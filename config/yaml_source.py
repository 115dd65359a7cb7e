"""Safe YAML reading that can name the line of every key and item.

Hostile input fails fast: bytes that are not UTF-8 and huge files before parsing,
deep nesting and alias bombs as the events stream in, before the data can grow
(see yaml_events).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tfo.config.errors import ConfigError
from tfo.config.files import read_limited
from tfo.config.yaml_events import EventBuilder, Loc, ShapeError, line_table

# libyaml's parser, when PyYAML has it (its wheels do), is 10-20x faster than the pure
# Python one: a document near MAX_BYTES then parses in about a second, not a minute.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64
# Enough for a config of 10,000 workspaces and more (about 25 nodes each).
MAX_NODES = 1_000_000


class YamlDocument:
    """A parsed YAML document; the 1-based line of every path in it on demand.

    The line table is built only when an error needs a line: for a big config it is
    bigger than the data itself, and a valid config never needs it.
    """

    def __init__(self, data: Any, text: str) -> None:
        self.data = data
        self._text = text
        self._lines: dict[Loc, int] | None = None

    def line_of(self, loc: Loc) -> int | None:
        """The line of `loc`, or of its nearest enclosing path."""
        if self._lines is None:
            self._lines = line_table(self._text, _Loader)
        while True:
            if loc in self._lines:
                return self._lines[loc]
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
    builder = EventBuilder(_Loader, max_depth=MAX_DEPTH, max_nodes=MAX_NODES)
    try:
        found, data = builder.build(text)
    except ShapeError as exc:
        raise ConfigError(str(exc), path=source, line=exc.line) from None
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, source) from None
    if not found:
        raise ConfigError("the file holds no YAML document", path=source)
    return YamlDocument(data, text)


def _syntax_error(exc: yaml.YAMLError, source: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return ConfigError(
        f"YAML syntax error: {problem}",
        path=source,
        line=(mark.line + 1) if mark is not None else None,
    )
