"""YAML that remembers line numbers, so every error names the file and the line.

Policies and inventories are edited by hand by auditors and admins; "invalid value" without
a place is useless to them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class DataFileError(Exception):
    def __init__(self, source: str, line: int | None, reason: str):
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {reason}")
        self.source, self.line, self.reason = source, line, reason


class Node:
    """A parsed YAML value with the line it starts on (1-based); mapping values are Nodes."""

    __slots__ = ("line", "value")

    def __init__(self, value: Any, line: int):
        self.value, self.line = value, line

    def plain(self) -> Any:
        if isinstance(self.value, list):
            return [n.plain() for n in self.value]
        if isinstance(self.value, dict):
            return {k: n.plain() for k, n in self.value.items()}
        return self.value


def _scalar(node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(node))


def _wrap(node: yaml.Node, source: str, error: type[DataFileError]) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            key = _scalar(key_node)
            if not isinstance(key, str):
                raise error(source, key_line, f"key {key!r} is not a string")
            if key in out:
                raise error(source, key_line, f"duplicate key {key!r}")
            out[key] = Node(_wrap(value_node, source, error).value, key_line)
        return Node(out, line)
    if isinstance(node, yaml.SequenceNode):
        return Node([_wrap(n, source, error) for n in node.value], line)
    return Node(_scalar(node), line)


def load_mapping(path: Path, error: type[DataFileError] = DataFileError) -> Node:
    """Parse ``path``; it must hold one mapping. Raises ``error`` naming file and line."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise error(source, line, f"invalid YAML: {exc.problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(source, None, f"cannot read: {exc}") from None
    if node is None or not isinstance(node, yaml.MappingNode):
        raise error(source, 1, "expected a YAML mapping at the top level")
    return _wrap(node, source, error)


def check_keys(
    node: Node,
    allowed: set[str],
    source: str,
    what: str,
    error: type[DataFileError] = DataFileError,
) -> None:
    if not isinstance(node.value, dict):
        raise error(source, node.line, f"{what} must be a mapping")
    for key, child in node.value.items():
        if key not in allowed:
            raise error(
                source, child.line, f"{what}: unknown key {key!r}; allowed: {sorted(allowed)}"
            )
