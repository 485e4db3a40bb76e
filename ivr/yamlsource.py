"""YAML loading that remembers line numbers and refuses duplicate keys.

PyYAML keeps the last of two equal keys silently; a menu with two options "1" would then
lose one without a word, so duplicates are reported here, with both lines.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, SequenceNode

from ivr.problems import MenuInvalid, MenuProblem


class LocatedDict(dict[Any, Any]):
    """A YAML mapping that knows its own line and the line of each key."""

    line: int
    key_lines: dict[Any, int]


class LocatedList(list[Any]):
    """A YAML sequence that knows its own line and the line of each item."""

    line: int
    item_lines: list[int]


class _LocatingLoader(yaml.SafeLoader):
    """SafeLoader that builds Located containers and collects duplicate keys."""

    def __init__(self, stream: str, path: Path) -> None:
        super().__init__(stream)
        self.path = path
        self.problems: list[MenuProblem] = []

    def construct_located_mapping(self, node: MappingNode) -> LocatedDict:
        own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        self.flatten_mapping(node)  # merged pairs first, then the mapping's own ones
        first_own = len(node.value) - own
        own_lines: dict[Any, int] = {}
        result = LocatedDict()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for index, (key_node, value_node) in enumerate(node.value):
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, int) and not isinstance(key, bool):
                key = str(key)  # keys are telephone keys: `1: account` means the key "1"
            line = key_node.start_mark.line + 1
            if not isinstance(key, Hashable):
                self.problems.append(MenuProblem(self.path, line, "a mapping key must be a scalar"))
                continue
            if index >= first_own:  # own keys override merged ones, but only appear once
                if key in own_lines:
                    message = f"duplicate key {key!r} (first at line {own_lines[key]})"
                    self.problems.append(MenuProblem(self.path, line, message))
                    continue
                own_lines[key] = line
            result.key_lines[key] = line
            result[key] = self.construct_object(value_node, deep=True)
        return result

    def construct_located_sequence(self, node: SequenceNode) -> LocatedList:
        result = LocatedList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


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
_LocatingLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _LocatingLoader.construct_located_mapping,
)
_LocatingLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
    _LocatingLoader.construct_located_sequence,
)


def load_located(path: Path) -> tuple[Any, list[MenuProblem]]:
    """Parse a YAML file into Located containers.

    Returns the document and the duplicate-key problems; raises MenuInvalid for a file that
    cannot be read or parsed at all, with the line of the syntax error.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise MenuInvalid([MenuProblem(path, 1, f"cannot read menu file: {reason}")]) from None
    try:
        loader = _LocatingLoader(text, path)  # PyYAML's Reader rejects control characters here
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        reason = f"{error.reason} (character #x{error.character:04x})"
        raise MenuInvalid([MenuProblem(path, line, f"YAML syntax error: {reason}")]) from None
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = ": ".join(str(part) for part in (error.context, error.problem) if part)
        raise MenuInvalid([MenuProblem(path, line, f"YAML syntax error: {reason}")]) from None
    except yaml.YAMLError as error:
        raise MenuInvalid([MenuProblem(path, 1, f"YAML error: {error}")]) from None
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
