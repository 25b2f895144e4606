"""The one YAML loader for every file hygie reads: it remembers line numbers and has limits.

Policies and inventories are edited by hand by auditors and admins; "invalid value" without
a place is useless to them. They also come from many hands (CMDB exports, files mailed by a
site, generated lists), so a file must never make hygie hang, exhaust memory or print a
traceback: each limit is checked while the file is read and parsed, and refused with the
file, the line and the limit's name.

=============================  ==========  ==================================================
Environment variable           Default     Bounds
=============================  ==========  ==================================================
``HYGIE_MAX_YAML_BYTES``       20 MiB      file size (read with ``fstat`` before reading)
``HYGIE_MAX_YAML_DEPTH``       64          nesting of lists and mappings
``HYGIE_MAX_YAML_NODES``       2,000,000   values, an alias counting as all it expands to
``HYGIE_MAX_YAML_ALIASES``     1,000       alias uses (``*name``)
=============================  ==========  ==================================================

The defaults hold a 50,000-host inventory several times over; a larger fleet raises them.
Aliases may name scalars or collections (``vars: *common`` is a common idiom), but each use
counts its whole expansion against the node limit, so an alias bomb ("billion laughs") is
refused after a bounded amount of work; an anchored collection is shared, never copied.
Only YAML's core tags are accepted (``!!str``, ``!!int``, ``!!float``, ``!!bool``,
``!!null``, ``!!timestamp``, ``!!seq``, ``!!map``): ``!!python/...``, ``!!binary``,
``!!set`` or any ``!custom`` tag is refused with its line, never ignored.

Only regular files and pipes are read (a pipe at most one byte past the size limit), and
opening never waits for a FIFO's writer; devices such as /dev/zero are refused. YAML 1.1
merge keys (``<<: *defaults``) are refused with their line: nothing is merged behind a reader.

Why events rather than ``yaml.compose``: libyaml's C parser (when PyYAML has it) emits
events that carry line marks, so line numbers survive; PyYAML's composers recurse once per
nesting level and know no limits. Nodes are built from the events with an explicit stack, and
each scalar is resolved and constructed by PyYAML's safe resolver and constructor (a plain
scalar's value is cached by its text), so values are exactly what ``yaml.safe_load`` gives.
libyaml itself refuses flow collections nested past 1,000 levels ("exceeded maximum nesting
depth"). The pure-Python parser emits the same events, about three times slower.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

try:
    from yaml.cyaml import CParser
except ImportError:  # PyYAML built without libyaml: the pure parser emits the same events
    CParser = None

_CORE = "tag:yaml.org,2002:"
_STR, _SEQ, _MAP = _CORE + "str", _CORE + "seq", _CORE + "map"
_SCALAR_TAGS = frozenset(_CORE + t for t in ("str", "int", "float", "bool", "null", "timestamp"))
_UNSET = object()
_UNTAGGED = frozenset({None, "!"})  # no tag, or "!" (non-specific): resolved as the Composer does
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


class DataFileError(Exception):
    def __init__(self, source: str, line: int | None, reason: str):
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {reason}")
        self.source, self.line, self.reason = source, line, reason


@dataclass(frozen=True)
class Limits:
    """The bounds of the module docstring; ``from_env`` reads their overrides."""

    max_bytes: int = 20 * 1024 * 1024
    max_depth: int = 64
    max_nodes: int = 2_000_000
    max_aliases: int = 1_000

    @classmethod
    def from_env(cls) -> Limits:
        return cls(**{f.name: env_limit(LIMIT_ENV[f.name], f.default) for f in fields(cls)})


LIMIT_ENV = {
    "max_bytes": "HYGIE_MAX_YAML_BYTES",
    "max_depth": "HYGIE_MAX_YAML_DEPTH",
    "max_nodes": "HYGIE_MAX_YAML_NODES",
    "max_aliases": "HYGIE_MAX_YAML_ALIASES",
}
_OVER = {
    "max_depth": "nested more than {limit:,} levels deep",
    "max_nodes": "more than {limit:,} values (an alias counts as all it expands to)",
    "max_aliases": "more than {limit:,} aliases",
}


def env_limit(name: str, default: int) -> int:
    """A positive integer from the environment variable ``name``, else ``default``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdecimal() or int(raw) == 0:
        raise DataFileError(name, None, f"must be a positive integer, not {raw!r}")
    return int(raw)


def _over_size(size: int, limit: int, env: str) -> str:
    """The reason a file of ``size`` bytes is refused, naming the variable that raises it."""
    return f"{size:,} bytes, over the limit of {limit:,} ({env})"


@contextmanager
def open_capped(
    path: Path, limit: int, env: str, refuse: Callable[[str], Exception], pipes: bool = False
) -> Iterator[IO[bytes]]:
    """``path`` opened for reading once ``fstat`` shows a regular file (or, with ``pipes``, a
    FIFO) of at most ``limit`` bytes; else ``refuse(reason)`` is raised. The open does not
    wait for a writer (a planted FIFO would hang it); reads then block as usual, and a pipe
    with no writer reads as empty. Devices are refused: /dev/zero or a terminal never ends."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with open(fd, "rb") as f:
        os.set_blocking(fd, True)
        info = os.fstat(fd)
        if not (stat.S_ISREG(info.st_mode) or (pipes and stat.S_ISFIFO(info.st_mode))):
            raise refuse("not a regular file")
        if info.st_size > limit:
            raise refuse(_over_size(info.st_size, limit, env))
        yield f


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


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


class _Frame:
    """A list or mapping being built: its items, the key awaiting its value, and what an
    alias to it will cost once complete (the values counted and the depth reached since it
    opened)."""

    __slots__ = ("anchor", "items", "key", "line", "nodes_before", "outer_deepest")

    def __init__(self, items: list[Node] | dict[str, Node], line: int, anchor: str | None):
        self.items, self.line, self.anchor = items, line, anchor
        self.key: Node | None = None
        self.nodes_before = self.outer_deepest = 0


class _Builder:
    """Nodes from parser events, with an explicit stack instead of recursion, counting
    depth, values and aliases as they arrive so a limit stops the parse where it is hit.

    An anchor remembers its node, the values it holds (``size``, aliases expanded) and how
    many levels deep it goes (``height``): each alias to it counts both."""

    def __init__(self, source: str, error: type[DataFileError], limits: Limits):
        self.source, self.error, self.limits = source, error, limits
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Node, int, int]] = {}  # name -> (node, size, height)
        self.nodes = self.aliases = self.documents = 0
        self.deepest = 0  # the deepest level reached inside the innermost open collection
        self.plain: dict[str, Any] = {}  # a plain scalar's value depends only on its text
        self.root: Node | None = None
        self.handlers = {
            ScalarEvent: self.scalar,
            MappingStartEvent: self.start,
            SequenceStartEvent: self.start,
            MappingEndEvent: self.end,
            SequenceEndEvent: self.end,
            AliasEvent: self.alias,
            DocumentStartEvent: self.document,
        }

    def feed(self, event: yaml.Event) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:  # stream start and end, document end: nothing to build
            handler(event, event.start_mark.line + 1)

    def over(self, limit: str, line: int) -> DataFileError:
        reason = _OVER[limit].format(limit=getattr(self.limits, limit))
        return self.error(self.source, line, f"{reason}, the limit ({LIMIT_ENV[limit]})")

    def count(self, nodes: int, depth: int, line: int) -> None:
        """Count ``nodes`` more values reaching ``depth`` levels of nesting."""
        self.nodes += nodes
        if self.nodes > self.limits.max_nodes:
            raise self.over("max_nodes", line)
        if depth > self.deepest:
            if depth > self.limits.max_depth:
                raise self.over("max_depth", line)
            self.deepest = depth

    def document(self, event: DocumentStartEvent, line: int) -> None:
        self.documents += 1
        if self.documents > 1:
            raise self.error(self.source, line, "invalid YAML: but found another document")

    def start(self, event: MappingStartEvent | SequenceStartEvent, line: int) -> None:
        mapping = type(event) is MappingStartEvent
        if event.tag not in _UNTAGGED and event.tag != (_MAP if mapping else _SEQ):
            raise self.bad_tag(event.tag, line)
        frame = _Frame({} if mapping else [], line, event.anchor)
        frame.nodes_before, frame.outer_deepest = self.nodes, self.deepest
        self.deepest = 0
        self.count(1, len(self.stack) + 1, line)
        self.stack.append(frame)

    def end(self, event: MappingEndEvent | SequenceEndEvent, line: int) -> None:
        frame = self.stack.pop()
        size, height = self.nodes - frame.nodes_before, self.deepest - len(self.stack)
        self.deepest = max(self.deepest, frame.outer_deepest)
        self.complete(Node(frame.items, frame.line), size, height, frame.anchor)

    def alias(self, event: AliasEvent, line: int) -> None:
        """An alias shares its anchor's node and counts all that node expands to."""
        if event.anchor not in self.anchors:  # undefined, or used inside its own anchor
            raise self.error(
                self.source, line, f"invalid YAML: found undefined alias {event.anchor!r}"
            )
        self.aliases += 1
        if self.aliases > self.limits.max_aliases:
            raise self.over("max_aliases", line)
        node, size, height = self.anchors[event.anchor]
        self.count(size, len(self.stack) + height, line)
        self.complete(Node(node.value, line), size, height, None)

    def bad_tag(self, tag: str, line: int) -> DataFileError:
        return self.error(
            self.source,
            line,
            f"tag {_short(tag)!r} is not allowed: hygie reads only YAML's core tags "
            "(!!str, !!int, !!float, !!bool, !!null, !!timestamp, !!seq, !!map)",
        )

    def scalar(self, event: ScalarEvent, line: int) -> None:
        self.count(1, 0, line)
        plain = event.tag is None and event.implicit[0]
        value = self.plain.get(event.value, _UNSET) if plain else _UNSET
        if value is _UNSET:
            value = self.construct(event, line)
            if plain:
                self.plain[event.value] = value
        self.complete(Node(value, line), 1, 0, event.anchor)

    def construct(self, event: ScalarEvent, line: int) -> Any:
        tag = event.tag
        if tag in _UNTAGGED:
            tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
            if tag == _CORE + "value":  # YAML 1.1's "=" key type, which nothing constructs
                tag = _STR
            elif tag == _CORE + "merge":
                raise self.error(
                    self.source, line, "merge keys ('<<') are not supported: write the keys out"
                )
        if tag == _STR:
            return event.value
        if tag not in _SCALAR_TAGS:
            raise self.bad_tag(tag, line)
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
        try:
            return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
        except (ValueError, KeyError, AttributeError):  # int("0x"), month 13, bool "maybe"
            raise self.error(
                self.source, line, f"{event.value!r} is not a valid {_short(tag)}"
            ) from None

    def complete(self, node: Node, size: int, height: int, anchor: str | None) -> None:
        """Attach a finished node to the collection being built (or make it the root)."""
        if anchor is not None:
            self.anchors[anchor] = (node, size, height)
        if not self.stack:
            self.root = node
            return
        frame = self.stack[-1]
        items = frame.items
        if isinstance(items, list):
            items.append(node)
        elif frame.key is None:
            key = node.value
            if not isinstance(key, str):
                raise self.error(self.source, node.line, f"key {node.plain()!r} is not a string")
            if key in items:
                raise self.error(self.source, node.line, f"duplicate key {key!r}")
            frame.key = node
        else:
            items[frame.key.value] = Node(node.value, frame.key.line)
            frame.key = None


def _read(path: Path, source: str, error: type[DataFileError], limit: int) -> bytes:
    """The file's bytes, refused by its size before they are read; a pipe is read at most
    one byte past the limit."""
    env = LIMIT_ENV["max_bytes"]
    try:
        with open_capped(path, limit, env, lambda r: error(source, None, r), pipes=True) as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise error(source, None, f"cannot read: {exc}") from None
    if len(data) > limit:
        raise error(source, None, f"at least {_over_size(len(data), limit, env)}")
    return data


def load_mapping(
    path: Path, error: type[DataFileError] = DataFileError, limits: Limits | None = None
) -> Node:
    """Parse ``path``; it must hold one mapping. Raises ``error`` naming file and line, also
    when a limit is exceeded (``limits``, by default :meth:`Limits.from_env`)."""
    source = str(path)
    limits = limits or Limits.from_env()
    data = _read(path, source, error, limits.max_bytes)
    try:
        text = data.decode("utf-8")  # libyaml would also take UTF-16: UTF-8 only, as before
    except UnicodeDecodeError as exc:
        raise error(source, None, f"cannot read: {exc}") from None
    # libyaml parses the bytes, reporting byte offsets; the pure parser counts characters
    buffer: bytes | str = data if CParser is not None else text
    del text, data  # hold the file once, not twice
    builder = _Builder(source, error, limits)
    try:
        parser = CParser(buffer) if isinstance(buffer, bytes) else yaml.SafeLoader(buffer)
        for event in iter(parser.get_event, None):
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise error(source, line, f"invalid YAML: {exc.problem}") from None
    except yaml.reader.ReaderError as exc:
        line = buffer.count(b"\n" if isinstance(buffer, bytes) else "\n", 0, exc.position)
        raise error(source, line + 1, f"invalid YAML: {exc.reason}") from None
    root = builder.root
    if root is None or not isinstance(root.value, dict):
        raise error(source, 1, "expected a YAML mapping at the top level")
    return root


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
