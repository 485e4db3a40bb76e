"""YAML loading that remembers line numbers, refuses duplicate keys and hostile documents.

PyYAML keeps the last of two equal keys silently; a menu with two options "1" would then
lose one without a word, so duplicates are reported here, with both lines.

Menus and scenarios come from many hands, so the loader also refuses, each with one
``path:line: message`` naming the limit of ``ivr.limits``: a file over ``MENU_FILE_BYTES``
(checked before it is read), nesting deeper than ``YAML_DEPTH`` (PyYAML's composer recurses,
and so does everything that walks the document after it) and more than ``YAML_NODES``
values once aliases are expanded (a 500-byte "billion laughs" file expands to billions).
Lines are counted as an editor counts them: only ``\\n`` ends a line, whereas PyYAML's own
marks also count U+2028, U+2029, NEL and a lone CR.
"""

from __future__ import annotations

import bisect
import re
import stat
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode

from ivr.limits import MENU_FILE_BYTES, YAML_DEPTH, YAML_NODES
from ivr.menu.problems import MenuInvalid, MenuProblem, shorten


class LocatedDict(dict[Any, Any]):
    """A YAML mapping that knows its own line and the line of each key."""

    line: int
    key_lines: dict[Any, int]


class LocatedList(list[Any]):
    """A YAML sequence that knows its own line and the line of each item."""

    line: int
    item_lines: list[int]


class _Refused(yaml.MarkedYAMLError):
    """A document over one of the limits; reported like a syntax error, at its line."""


class _LocatingLoader(yaml.SafeLoader):
    """SafeLoader that builds Located containers, collects duplicate keys and keeps limits."""

    def __init__(self, stream: str, path: Path) -> None:
        super().__init__(stream)
        self.path = path
        self.problems: list[MenuProblem] = []
        self._newlines = [index for index, char in enumerate(stream) if char == "\n"]
        self._depth = 0
        self._measured: dict[int, tuple[int, int]] = {}
        """id(node) -> (values once aliases are expanded, nesting depth below and with it)."""

    def line_at(self, mark: yaml.error.Mark | None) -> int:
        """The 1-based line of a mark, counting only ``\\n`` as an editor does."""
        if mark is None:
            return 1
        return bisect.bisect_left(self._newlines, mark.index) + 1

    # -- composing: the limits, before anything is built -------------------------------

    def compose_sequence_node(self, anchor: Any) -> SequenceNode:
        self._descend()
        try:
            node = super().compose_sequence_node(anchor)
        finally:
            self._depth -= 1
        self._measure(node)
        return node

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        self._descend()
        try:
            node = super().compose_mapping_node(anchor)
        finally:
            self._depth -= 1
        self._measure(node)
        return node

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            node = self.anchors.get(event.anchor)
            if isinstance(node, CollectionNode) and id(node) not in self._measured:
                message = "a value that contains itself (recursive alias)"
                raise _Refused(problem=message, problem_mark=event.start_mark)
        composed = super().compose_node(parent, index)
        assert composed is not None  # a document's nodes; None is only for an empty stream
        return composed

    def _descend(self) -> None:
        """One level deeper; refuse the file before the composer's recursion is deep."""
        self._depth += 1
        if self._depth > YAML_DEPTH:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise _Refused(problem=_too_deep(), problem_mark=mark)

    def _measure(self, node: CollectionNode) -> None:
        """Size and depth of a finished collection, its aliases expanded (children first)."""
        count, depth = 1, 1
        children: list[Node] = []
        for child in node.value:
            children += list(child) if isinstance(child, tuple) else [child]
        for child in children:
            if isinstance(child, ScalarNode):
                count += 1
                continue
            measured = self._measured[id(child)]  # compose_node refused recursive aliases
            count += measured[0]
            depth = max(depth, measured[1] + 1)
        if depth > YAML_DEPTH:
            how = " once aliases are expanded"
            raise _Refused(problem=_too_deep(how), problem_mark=node.start_mark)
        if count > YAML_NODES:
            raise _Refused(
                problem=f"more than {YAML_NODES} values once aliases are expanded "
                "(limit YAML_NODES)",
                problem_mark=node.start_mark,
            )
        self._measured[id(node)] = (count, depth)

    # -- constructing -----------------------------------------------------------------

    def construct_located_mapping(self, node: MappingNode) -> LocatedDict:
        own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        self.flatten_mapping(node)  # merged pairs first, then the mapping's own ones
        first_own = len(node.value) - own
        own_lines: dict[Any, int] = {}
        result = LocatedDict()
        result.line = self.line_at(node.start_mark)
        result.key_lines = {}
        for index, (key_node, value_node) in enumerate(node.value):
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, int) and not isinstance(key, bool):
                key = str(key)  # keys are telephone keys: `1: account` means the key "1"
            line = self.line_at(key_node.start_mark)
            if not isinstance(key, Hashable):
                self.problems.append(MenuProblem(self.path, line, "a mapping key must be a scalar"))
                continue
            if index >= first_own:  # own keys override merged ones, but only appear once
                if key in own_lines:
                    message = f"duplicate key {shorten(repr(key))} (first at line {own_lines[key]})"
                    self.problems.append(MenuProblem(self.path, line, message))
                    continue
                own_lines[key] = line
            result.key_lines[key] = line
            result[key] = self.construct_object(value_node, deep=True)
        return result

    def construct_located_sequence(self, node: SequenceNode) -> LocatedList:
        result = LocatedList(self.construct_object(child, deep=True) for child in node.value)
        result.line = self.line_at(node.start_mark)
        result.item_lines = [self.line_at(child.start_mark) for child in node.value]
        return result

    def construct_limited_int(self, node: ScalarNode) -> int:
        """An integer, or a located error for one too long for Python to convert (4300 digits)."""
        try:
            value: int = self.construct_yaml_int(node)
        except ValueError:
            raise yaml.constructor.ConstructorError(
                problem="an integer with too many digits", problem_mark=node.start_mark
            ) from None
        return value


def _too_deep(how: str = "") -> str:
    return f"nested deeper than {YAML_DEPTH} levels{how} (limit YAML_DEPTH)"


# YAML 1.2 booleans: only true/false. YAML 1.1 also reads yes/no/on/off as booleans, which
# would turn `confirm_phrases: {yes: […], no: […]}` into {True: …, False: …}.
_LocatingLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LocatingLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
# YAML 1.2 floats: 5e0 and 1e1 are numbers. YAML 1.1 (PyYAML) wants a dot and a signed
# exponent, reads them as strings, and a timeout of 5e0 was reported "not of type number".
_LocatingLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+.0123456789"),
)
_LocatingLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _LocatingLoader.construct_located_mapping,
)
_LocatingLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
    _LocatingLoader.construct_located_sequence,
)
_LocatingLoader.add_constructor("tag:yaml.org,2002:int", _LocatingLoader.construct_limited_int)


def read_limited(
    path: Path,
    what: str = "menu file",
    limit: tuple[int, str] = (MENU_FILE_BYTES, "MENU_FILE_BYTES"),
) -> str:
    """The text of a regular file of at most ``limit`` bytes, or MenuInvalid at line 1.

    The size is checked before reading and the read is bounded, so neither a huge file nor
    a device or pipe (``/dev/zero``, a FIFO) can make ivr read without end.
    """

    size, name = limit

    def refuse(message: str) -> MenuInvalid:
        return MenuInvalid([MenuProblem(path, 1, message)])

    too_big = f"{what} larger than {size} bytes (limit {name})"

    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise refuse(f"cannot read {what}: {kind}")
        if info.st_size > size:
            raise refuse(too_big)
        with path.open("rb") as file:
            data = file.read(min(size, info.st_size) + 1)  # read(n) allocates n up front
        if len(data) > size:
            raise refuse(too_big)
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise refuse(f"cannot read {what}: {shorten(reason)}") from None


def load_located(path: Path, text: str | None = None) -> tuple[Any, list[MenuProblem]]:
    """Parse a YAML file (or ``text``, already read from it within the limit) into Located
    containers.

    Returns the document and the duplicate-key problems; raises MenuInvalid for a file that
    cannot be read or parsed at all, or that is over a limit, with the line of the problem.
    """
    if text is None:
        text = read_limited(path)
    newlines = [index for index, char in enumerate(text) if char == "\n"]
    try:
        loader = _LocatingLoader(text, path)  # PyYAML's Reader rejects control characters here
    except yaml.reader.ReaderError as error:
        line = bisect.bisect_left(newlines, error.position) + 1
        reason = f"{error.reason} (character #x{error.character:04x})"
        raise MenuInvalid([MenuProblem(path, line, f"YAML syntax error: {reason}")]) from None
    try:
        document = loader.get_single_data()
    except _Refused as error:
        line = loader.line_at(error.problem_mark)
        raise MenuInvalid([MenuProblem(path, line, f"refused: {error.problem}")]) from None
    except yaml.MarkedYAMLError as error:
        line = loader.line_at(error.problem_mark or error.context_mark)
        reason = ": ".join(str(part) for part in (error.context, error.problem) if part)
        message = f"YAML syntax error: {shorten(reason, 200)}"
        raise MenuInvalid([MenuProblem(path, line, message)]) from None
    except yaml.YAMLError as error:
        message = f"YAML error: {shorten(str(error), 200)}"
        raise MenuInvalid([MenuProblem(path, 1, message)]) from None
    finally:
        loader.dispose()
    return document, loader.problems


def line_of(document: Any, location: Sequence[Any]) -> int:
    """The line of the deepest element of ``location`` that the document still has."""
    line = getattr(document, "line", 1)
    node = document
    for step in location:
        if isinstance(node, LocatedDict) and step in node:
            line = node.key_lines.get(step, line)
            node = node[step]
        elif isinstance(node, LocatedList) and isinstance(step, int) and 0 <= step < len(node):
            line = node.item_lines[step]
            node = node[step]
        else:
            break
    return line
