"""A located problem in a config or playbook file, and the "did you mean" helper behind it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Path = tuple[str | int, ...]


def dotted(path: Path) -> str:
    """`('on_start', 1, 'notify', 'channel')` → `on_start[1].notify.channel`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong, where it is, and what to do about it."""

    file: str
    line: int
    col: int
    path: Path
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        tag = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}:{self.col}: {dotted(self.path)}: {tag}{self.message}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "col": self.col, "path": dotted(self.path),
                "message": self.message, "severity": self.severity}


def suggest(word: str, choices: Iterable[str]) -> str:
    """` Did you mean 'x'?` when a close choice exists, else an empty string."""
    matches = difflib.get_close_matches(str(word), sorted(set(choices)), n=1, cutoff=0.6)
    return f" Did you mean {matches[0]!r}?" if matches else ""


def unknown_name(what: str, word: str, choices: Iterable[str]) -> str:
    """`unknown channel 'smss'. Did you mean 'sms'? (known: email, sms)`."""
    known = sorted(set(choices))
    listing = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
    hint = suggest(word, known)
    return f"unknown {what} {word!r}{'.' + hint if hint else ''} (known: {listing or 'none'})"
