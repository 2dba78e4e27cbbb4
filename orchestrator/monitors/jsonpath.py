"""Dotted JSON paths as Gatus writes them (`status.indicator`, `data[0].id`, `items[-1]`)."""

from __future__ import annotations

import re
from typing import Any

Path = tuple[str | int, ...]

_KEY = re.compile(r"[^.\[\]\s\"]+")
_INDEX = re.compile(r"\[(-?\d+)\]")
_QUOTED = re.compile(r"\[\"((?:[^\"\\]|\\.)*)\"\]")


class Missing(LookupError):
    """The path does not exist in the document; `where` names the first step that failed."""

    def __init__(self, where: str):
        self.where = where
        super().__init__(where)


def parse_path(text: str) -> Path:
    """`a.b[0]["x.y"]` → ('a', 'b', 0, 'x.y'); raise ValueError naming the column at fault."""
    steps: list[str | int] = []
    pos, expect_key = 0, True
    while pos < len(text):
        if text[pos] == "[":
            match = _INDEX.match(text, pos) or _QUOTED.match(text, pos)
            if not match:
                raise ValueError(f"expected [number] or [\"key\"] at column {pos + 1} of "
                                 f"path {text!r}")
            value = match.group(1)
            steps.append(int(value) if match.re is _INDEX else value.replace('\\"', '"'))
            pos, expect_key = match.end(), False
            continue
        if text[pos] == "." and not expect_key:
            pos, expect_key = pos + 1, True
            continue
        match = _KEY.match(text, pos) if expect_key else None
        if not match:
            found = text[pos]
            raise ValueError(f"expected a key name at column {pos + 1} of path {text!r}, "
                             f"found {found!r}" if expect_key else
                             f"expected '.' or '[' at column {pos + 1} of path {text!r}, "
                             f"found {found!r}")
        steps.append(match.group(0))
        pos, expect_key = match.end(), False
    if expect_key and steps:
        raise ValueError(f"path {text!r} ends with '.': a key name must follow it")
    return tuple(steps)


def format_path(path: Path) -> str:
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif _KEY.fullmatch(step):
            out += f".{step}" if out else step
        else:
            out += '["' + step.replace('"', '\\"') + '"]'
    return out


def lookup(document: Any, path: Path) -> Any:
    """The value at `path`, or Missing naming where the walk stopped."""
    current = document
    for depth, step in enumerate(path):
        if isinstance(step, int) and isinstance(current, list):
            if -len(current) <= step < len(current):
                current = current[step]
                continue
        elif isinstance(step, str) and isinstance(current, dict) and step in current:
            current = current[step]
            continue
        raise Missing(format_path(path[: depth + 1]) or "(root)")
    return current


def as_text(value: Any) -> str:
    """A JSON value as condition and state maps compare it: true, null, 3, 2.5, text."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
