"""Reads YAML safely into plain data plus a map of where every key and value sits in the file.

Refused, each with its location: anchors and aliases (and `<<` merges), duplicate keys,
tags outside YAML's core schema (`!!python/...`), nesting deeper than MAX_DEPTH, and files
larger than MAX_BYTES. `${ENV_VAR}` interpolation (with `$$` as escape) is applied on request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml
import yaml.reader
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from orchestrator.models import EnvStr
from orchestrator.problems import Path, Problem

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null", "map", "seq")}
_TIMESTAMP = _CORE + "timestamp"
_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Source:
    """Parsed YAML: `data` plus 1-based (line, col) of each value and each mapping key."""

    file: str
    data: Any = None
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    styles: dict[Path, str | None] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    unset_env: list[tuple[Path, str]] = field(default_factory=list)

    def locate(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The position of `path`, or of its nearest ancestor that exists in the file."""
        path = tuple(path)
        while True:
            if key and path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            if not path:
                return (1, 1)
            path = path[:-1]

    def problem(self, path: Path, message: str, *, key: bool = False,
                severity: str = "error") -> Problem:
        line, col = self.locate(path, key=key)
        found = Problem(self.file, line, col, tuple(path), message, severity)  # type: ignore[arg-type]
        self.problems.append(found)
        return found


class _Refusal(Exception):
    def __init__(self, message: str, mark: Any, path: Path):
        self.message, self.mark, self.path = message, mark, path


try:  # libyaml's parser makes the events 8x faster; composing stays ours, in Python
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.loader import Reader, Scanner
    from yaml.parser import Parser

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str):
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


class _Composer(Composer, _Parser, Resolver):
    """A composer that refuses anchors, aliases and deep nesting as it reads."""

    def __init__(self, stream: str):
        _Parser.__init__(self, stream)
        Composer.__init__(self)
        Resolver.__init__(self)
        self._path: list[str | int] = []

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if parent is not None:
            self._path.append(index.value if isinstance(index, ScalarNode) else index)
        try:
            return self._compose_checked(parent, index)
        finally:
            if parent is not None:
                self._path.pop()

    def _compose_checked(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        where = tuple(self._path)
        if isinstance(event, AliasEvent):
            raise _Refusal(f"YAML aliases (*{event.anchor}) are not allowed: write the value out",
                           event.start_mark, where)
        if isinstance(event, ScalarEvent | CollectionStartEvent) and event.anchor:
            raise _Refusal(f"YAML anchors (&{event.anchor}) are not allowed: write values out "
                           "in full so each reads on its own", event.start_mark, where)
        if isinstance(event, CollectionStartEvent) and len(self._path) >= MAX_DEPTH:
            raise _Refusal(f"nesting deeper than {MAX_DEPTH} levels is not allowed",
                           event.start_mark, where)
        return Composer.compose_node(self, parent, index)


def _pos(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    """Turns a composed node tree into plain data, recording positions and problems."""

    def __init__(self, source: Source, env: Mapping[str, str] | None, missing_env: str):
        self.source, self.env, self.missing_env = source, env, missing_env
        self.scalars = SafeConstructor()

    def build(self, node: Node, path: Path) -> Any:
        self.source.values[path] = _pos(node)
        if node.tag not in _ALLOWED_TAGS and node.tag != _TIMESTAMP:
            self.source.problem(path, f"YAML tag {node.tag.replace(_CORE, '!!')!r} is not "
                                "allowed: only plain strings, numbers, booleans, lists and maps")
            return None
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        self.source.styles[path] = node.style
        if node.tag == _TIMESTAMP:
            return node.value  # keep dates as written; models parse what they need
        value = self.scalars.construct_object(node)
        if isinstance(value, str) and self.env is not None:
            value = self._interpolate(value, path)
        return value

    def _mapping(self, node: MappingNode, path: Path) -> dict:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _CORE + "merge":
                self.source.values[(*path, "<<")] = _pos(key_node)
                self.source.problem((*path, "<<"), "YAML merge keys (<<) are not allowed")
                continue
            if not isinstance(key_node, ScalarNode):
                self.source.values[path + ("?",)] = _pos(key_node)
                self.source.problem(path + ("?",), "mapping keys must be plain strings")
                continue
            if key_node.tag not in _ALLOWED_TAGS:
                self.source.values[path + ("?",)] = _pos(key_node)
                self.source.problem(path + ("?",), f"YAML tag {key_node.tag.replace(_CORE, '!!')!r}"
                                    " is not allowed on a key")
                continue
            key = self.scalars.construct_object(key_node)
            key = key if isinstance(key, str) else str(key)
            child = (*path, key)
            if key in result:
                first = self.source.keys[child]
                self.source.keys[child] = _pos(key_node)
                self.source.problem(child, f"duplicate key {key!r} (first defined at line "
                                    f"{first[0]})", key=True)
                continue
            self.source.keys[child] = _pos(key_node)
            result[key] = self.build(value_node, child)
        return result

    def _interpolate(self, text: str, path: Path) -> str:
        used = False

        def replace(match: re.Match) -> str:
            nonlocal used
            if match.group(0) == "$$":
                return "$"
            used = True
            name, default = match.group(1), match.group(2)
            if name in self.env:  # type: ignore[operator]
                return self.env[name]  # type: ignore[index]
            if default is not None:
                return default
            self.source.unset_env.append((path, name))
            if self.missing_env == "error":
                self.source.problem(path, f"environment variable {name} is not set (export it, "
                                    f"or write ${{{name}:-default}})")
            return ""

        result = _ENV.sub(replace, text)
        return EnvStr(result) if used else result


def parse_yaml(text: str, file: str, *, env: Mapping[str, str] | None = None,
               missing_env: str = "error") -> Source:
    """Parse `text`; problems (syntax, refusals) are collected on the returned Source."""
    source = Source(file)
    loader = None
    try:
        loader = _Composer(text)
        node = loader.get_single_node()
    except _Refusal as refusal:
        mark = refusal.mark
        source.problems.append(Problem(file, mark.line + 1, mark.column + 1, refusal.path,
                                       refusal.message))
        return source
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = " ".join(x for x in (exc.context, exc.problem) if x)
        lines = text.splitlines()
        if mark and mark.line < len(lines) and "\t" in lines[mark.line][:mark.column + 1]:
            what += " (a tab: YAML indents with spaces only)"
        source.problems.append(Problem(file, line, col, (), f"invalid YAML: {what}"))
        return source
    except yaml.reader.ReaderError as exc:
        before = text[:exc.position]
        line, col = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        source.problems.append(Problem(file, line, col, (), f"invalid YAML: character "
                                       f"#x{exc.character:04x} is not allowed in YAML"))
        return source
    except yaml.YAMLError as exc:
        source.problems.append(Problem(file, 1, 1, (), f"invalid YAML: {exc}"))
        return source
    finally:
        if loader is not None and hasattr(loader, "dispose"):
            loader.dispose()
    if node is None:
        source.data = {}
        return source
    source.data = _Builder(source, env, missing_env).build(node, ())
    if source.unset_env and missing_env == "warning":
        names = sorted({name for _, name in source.unset_env})
        source.problem(source.unset_env[0][0], f"{len(names)} environment variable"
                       f"{'s are' if len(names) > 1 else ' is'} not set: {', '.join(names)}. "
                       "Other commands (run, check, trigger) need them", severity="warning")
    return source


def read_yaml(path: FsPath, *, env: Mapping[str, str] | None = None,
              missing_env: str = "error") -> Source:
    """Read and parse a file, refusing it (located at 1:1) when it is too large or unreadable."""
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            source = Source(file)
            source.problems.append(Problem(file, 1, 1, (), f"file is {size:,} bytes; the limit "
                                           f"is {MAX_BYTES:,} (1 MiB)"))
            return source
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        source = Source(file)
        source.problems.append(Problem(file, 1, 1, (), f"file is not UTF-8 text: {exc.reason}"))
        return source
    except OSError as exc:
        source = Source(file)
        source.problems.append(Problem(file, 1, 1, (), f"cannot read file: {exc.strerror}"))
        return source
    return parse_yaml(text, file, env=env, missing_env=missing_env)
