"""Plain data straight from YAML's event stream, and the line of every path on demand.

PyYAML's own loader composes a node tree first: two Mark objects and a node per
scalar, about 70 MB for an infra.yaml of 10,000 workspaces, freed again at once but
leaving the process's heap that much bigger for good. Building from the events keeps
only the data. It also checks what the tree's loader could not before building it:
nesting depth, node count, and aliases expanded (an alias bomb), in one pass.

Scalars go through PyYAML's own tag resolution and safe constructors, so values mean
exactly what `yaml.safe_load` makes of them: merge keys (`<<`), explicit `!!` tags,
and an unknown tag is an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.resolver import Resolver

Loc = tuple[str | int, ...]

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"
_COLLECTIONS = {_MAP, _SEQ, *(f"tag:yaml.org,2002:{kind}" for kind in ("omap", "pairs", "set"))}


class ShapeError(Exception):
    """The document is too deep or too big; `line` is where, when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class _Open:
    """A collection being built: its items so far and its expanded size."""

    is_map: bool
    anchor: str | None
    size: int = 1
    items: list[Any] = field(default_factory=list)
    pairs: list[tuple[Any, Any, str | None]] = field(default_factory=list)  # key, value, key tag
    key: Any = None
    key_tag: str | None = None
    has_key: bool = False


class EventBuilder:
    """Builds one document's data from `yaml.parse` events."""

    def __init__(self, loader: type, *, max_depth: int, max_nodes: int) -> None:
        self._loader = loader
        self._max_depth = max_depth
        self._max_nodes = max_nodes
        self._constructor = SafeConstructor()
        self._resolver = Resolver()

    def build(self, text: str) -> tuple[bool, Any]:
        """(whether there was a document, its data)."""
        anchors: dict[str, tuple[Any, int]] = {}
        stack: list[_Open] = []
        events = documents = 0
        result: Any = None
        stream: Iterable[Any] = yaml.parse(text, Loader=self._loader)
        tag: str | None
        for event in stream:
            events += 1
            if events > self._max_nodes:
                raise ShapeError(f"document has more than {self._max_nodes} nodes")
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise ShapeError("expected a single YAML document, found another", _line(event))
                continue
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= self._max_depth:
                    raise ShapeError(f"nesting deeper than {self._max_depth} levels", _line(event))
                tag = self._collection_tag(event)
                stack.append(_Open(is_map=tag == _MAP, anchor=event.anchor))
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                done = stack.pop()
                value, size, tag = _close(done), done.size, None
                if done.anchor is not None:
                    anchors[done.anchor] = (value, size)
            elif isinstance(event, yaml.AliasEvent):
                if event.anchor not in anchors:  # undefined, or an alias inside its own anchor
                    mark: Any = event.start_mark
                    raise ConstructorError(None, None, f"found undefined alias {event.anchor!r}", mark)
                value, size, tag = *anchors[event.anchor], None
            elif isinstance(event, yaml.ScalarEvent):
                value, tag = self._scalar(event)
                size = 1
                if event.anchor is not None:
                    anchors[event.anchor] = (value, size)
            else:
                continue
            if not stack:
                result = value
                continue
            top = stack[-1]
            top.size = min(top.size + size, self._max_nodes + 1)
            if top.size > self._max_nodes:
                raise ShapeError(f"document expands to more than {self._max_nodes} nodes (an alias bomb?)")
            if not top.is_map:
                top.items.append(value)
            elif not top.has_key:
                top.key, top.key_tag, top.has_key = value, tag, True
            else:
                top.pairs.append((top.key, value, top.key_tag))
                top.has_key = False
        return documents > 0, result

    def _collection_tag(self, event: Any) -> str:
        kind = yaml.MappingNode if isinstance(event, yaml.MappingStartEvent) else yaml.SequenceNode
        tag = event.tag
        if tag is None or tag == "!":
            tag = self._resolver.resolve(kind, None, event.implicit)
        if tag not in (_MAP, _SEQ) or (tag == _MAP) != (kind is yaml.MappingNode):
            raise ConstructorError(None, None, f"unsupported tag {tag!r} on a collection", event.start_mark)
        return str(tag)

    def _scalar(self, event: Any) -> tuple[Any, str]:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self._resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag in (_STR, _MERGE, _VALUE):
            return event.value, tag
        if tag in _COLLECTIONS:
            raise ConstructorError(None, None, f"a scalar cannot have the tag {tag!r}", event.start_mark)
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        constructors: dict[Any, Any] = SafeConstructor.yaml_constructors
        return constructors.get(tag, constructors[None])(self._constructor, node), tag


def _close(done: _Open) -> Any:
    if not done.is_map:
        return done.items
    merged: dict[Any, Any] = {}
    own: dict[Any, Any] = {}
    for key, value, tag in done.pairs:
        if tag != _MERGE:
            _put(own, key, value)
            continue
        for source in value if isinstance(value, list) else [value]:
            if not isinstance(source, dict):
                raise ConstructorError(None, None, "a merge key (<<) takes a mapping or a list of mappings")
            for k, v in source.items():  # the first mapping merged wins, as in the YAML spec
                merged.setdefault(k, v)
    merged.update(own)
    return merged


def _put(mapping: dict[Any, Any], key: Any, value: Any) -> None:
    try:
        mapping[key] = value
    except TypeError:
        raise ConstructorError(None, None, "found unhashable key") from None


def _line(event: Any) -> int | None:
    return event.start_mark.line + 1 if event.start_mark is not None else None


@dataclass
class _Frame:
    """An open collection while lines are recorded; `loc` None: inside a complex key."""

    loc: Loc | None
    is_map: bool
    is_key: bool = False
    index: int = 0
    key: Any = None
    wants_key: bool = True


def line_table(text: str, loader: type) -> dict[Loc, int]:
    """The 1-based line of every path of a well-formed document: a key's path at its
    key's line, an item's at its own. Asked for only when an error needs a line."""
    lines: dict[Loc, int] = {}
    stack: list[_Frame] = []
    stream: Iterable[Any] = yaml.parse(text, Loader=loader)
    for event in stream:
        if isinstance(event, yaml.CollectionEndEvent):
            if not stack.pop().is_key and stack:
                _done(stack[-1])
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        line = _line(event) or 0
        opens = isinstance(event, yaml.CollectionStartEvent)
        is_map = isinstance(event, yaml.MappingStartEvent)
        top = stack[-1] if stack else None
        if top is not None and top.is_map and top.wants_key:
            top.wants_key = False
            top.key = event.value if isinstance(event, yaml.ScalarEvent) else None
            if top.loc is not None and top.key is not None:
                lines[(*top.loc, top.key)] = line
            if opens:
                stack.append(_Frame(loc=None, is_map=is_map, is_key=True))
            continue
        loc = _child(top)
        if loc is not None:
            lines.setdefault(loc, line)
        if opens:
            stack.append(_Frame(loc=loc, is_map=is_map))
        elif top is not None:
            _done(top)
    return lines


def _child(top: _Frame | None) -> Loc | None:
    if top is None:
        return ()
    if top.loc is None:
        return None
    if top.is_map:
        return None if top.key is None else (*top.loc, top.key)
    return (*top.loc, top.index)


def _done(top: _Frame) -> None:
    """The value or item at `top` is complete."""
    if top.is_map:
        top.wants_key = True
    else:
        top.index += 1
