"""Read YAML keeping the line of every key and list item, and refusing duplicate keys."""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


class LineDict(dict):  # type: ignore[type-arg]
    """A mapping that remembers where it and each of its keys were written (1-based lines)."""

    line: int = 0
    lines: dict[Any, int]
    literal: dict[Any, bool]  # the value is a '|' block: its own lines follow the key


class LineList(list):  # type: ignore[type-arg]
    """A sequence that remembers its line and the line of each item."""

    line: int = 0
    lines: list[int]


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.problems: list[tuple[int, str]] = []


def _mapping(loader: _Loader, node: Node) -> LineDict:
    if not isinstance(node, MappingNode):  # pragma: no cover - the resolver guarantees it
        raise ConstructorError(None, None, "expected a mapping", node.start_mark)
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.lines = {}
    result.literal = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise ConstructorError(None, None, "a key must be a plain value",
                                   key_node.start_mark) from None
        line = key_node.start_mark.line + 1
        if key in result:
            loader.problems.append((line, f"duplicate key '{key}'"))
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = line
        result.literal[key] = isinstance(value_node, ScalarNode) and value_node.style == "|"
    return result


def _sequence(loader: _Loader, node: Node) -> LineList:
    if not isinstance(node, SequenceNode):  # pragma: no cover
        raise ConstructorError(None, None, "expected a list", node.start_mark)
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.lines = [child.start_mark.line + 1 for child in node.value]
    return result


def _timestamp(loader: _Loader, node: Node) -> Any:
    # An impossible date such as 2024-02-30 must become a load error, not a crash.
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)  # type: ignore[arg-type]
    except (ValueError, OverflowError):
        return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _sequence)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def load_yaml(text: str) -> tuple[Any, list[tuple[int, str]]]:
    """Parse one YAML document; return the data and (line, message) problems, never raise."""
    try:
        loader = _Loader(text)  # the reader already refuses control characters here
    except yaml.YAMLError as exc:
        return None, [(1, f"invalid YAML: {exc}")]
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        return None, [*loader.problems, (line, f"invalid YAML: {problem}")]
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as exc:
        return None, [*loader.problems, (1, f"invalid YAML: {exc}")]
    finally:
        loader.dispose()
    return data, loader.problems


def as_date(value: Any) -> dt.date | None:
    """Return ``value`` as a date (a YAML date or an ISO text), or None if it is not one."""
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None
