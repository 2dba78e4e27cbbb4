"""Gatus-style conditions (`[STATUS] == 200`, `len([BODY].items) > 0`): parsed once, then judged.

Grammar: `OPERAND OP OPERAND` with OP one of == != < <= > >=. An operand is a placeholder
([STATUS], [RESPONSE_TIME], [CONNECTED], [BODY] optionally followed by a JSON path),
`len(placeholder)`, `has(placeholder)`, a literal, or on the right only `any(a, b, ...)`
and `pat(glob)`. Parse errors say what was expected at which column.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from orchestrator.monitors.jsonpath import Path, as_text, format_path, lookup, parse_path

PLACEHOLDERS = ("STATUS", "RESPONSE_TIME", "CONNECTED", "BODY")
OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_SPLIT = re.compile(r"\s*(==|!=|<=|>=|<|>)\s*")
_CALL = re.compile(r"^(\w+)\((.*)\)$", re.S)
_PLACEHOLDER = re.compile(r"^\[([A-Za-z_]+)\](.*)$", re.S)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True)
class Operand:
    kind: str                      # placeholder | len | has | literal | any | pat
    name: str = ""                 # placeholder name
    path: Path = ()
    values: tuple[str, ...] = ()   # literal (one), any (several) or pat (one)
    text: str = ""

    @property
    def uses_body(self) -> bool:
        return self.name == "BODY"


@dataclass(frozen=True)
class Condition:
    text: str
    left: Operand
    op: str
    right: Operand

    @property
    def uses_body(self) -> bool:
        return self.left.uses_body or self.right.uses_body


class Unreadable(Exception):
    """The response cannot be judged at all (not JSON, path missing): the signal failed."""


@dataclass(frozen=True)
class Facts:
    """What a request yielded; `json` is a zero-argument callable so bodies parse lazily."""

    status: int | None
    response_time_ms: float
    connected: bool
    body_text: str
    json: Any  # Callable[[], Any], raising Unreadable


def parse_condition(text: str) -> Condition:
    """Parse one condition; raise ValueError saying what was expected where."""
    source = text.strip()
    match = _SPLIT.search(source)
    if not source:
        raise ValueError("empty condition: write it as [STATUS] == 200")
    if not match:
        raise ValueError(f"expected an operator ({', '.join(OPERATORS)}) in {source!r}, "
                         "as in [STATUS] == 200")
    left_text, right_text = source[: match.start()], source[match.end():]
    if not left_text:
        raise ValueError(f"expected a value before {match.group(1)!r} at column 1 of {source!r}")
    if not right_text:
        raise ValueError(f"expected a value after {match.group(1)!r} at column "
                         f"{match.end() + 1} of {source!r}")
    left = _operand(left_text, 1, source, right_side=False)
    right = _operand(right_text, match.end() + 1, source, right_side=True)
    if "placeholder" not in (left.kind, right.kind) and not {left.kind, right.kind} & {"len",
                                                                                      "has"}:
        raise ValueError(f"{source!r} compares two constants: one side must be [STATUS], "
                         "[RESPONSE_TIME], [CONNECTED], [BODY]..., len(...) or has(...)")
    if match.group(1) not in ("==", "!=") and right.kind in ("any", "pat"):
        raise ValueError(f"{right.kind}(...) only works with == or != in {source!r}")
    return Condition(source, left, match.group(1), right)


def _operand(text: str, column: int, source: str, *, right_side: bool) -> Operand:
    call = _CALL.match(text)
    if call and call.group(1) in ("len", "has"):
        inner = _placeholder(call.group(2).strip(), column + len(call.group(1)) + 1, source)
        if inner is None:
            raise ValueError(f"expected a placeholder such as [BODY].items inside "
                             f"{call.group(1)}() at column {column} of {source!r}")
        return Operand(call.group(1), inner.name, inner.path, text=text)
    if call and call.group(1) in ("any", "pat"):
        if not right_side:
            raise ValueError(f"{call.group(1)}() belongs on the right of the operator "
                             f"(column {column} of {source!r})")
        values = tuple(v.strip().strip("\"'") for v in call.group(2).split(","))
        if not all(values) or (call.group(1) == "pat" and len(values) != 1):
            raise ValueError(f"expected {'one pattern' if call.group(1) == 'pat' else 'values'}"
                             f" inside {call.group(1)}() at column {column} of {source!r}")
        return Operand(call.group(1), values=values, text=text)
    if call:
        raise ValueError(f"unknown function {call.group(1)}() at column {column} of {source!r}; "
                         "expected len(), has(), any() or pat()")
    placeholder = _placeholder(text, column, source)
    if placeholder is not None:
        return placeholder
    return Operand("literal", values=(text.strip("\"'"),), text=text)


def _placeholder(text: str, column: int, source: str) -> Operand | None:
    match = _PLACEHOLDER.match(text)
    if not match:
        return None
    name, rest = match.group(1).upper(), match.group(2)
    if name not in PLACEHOLDERS:
        close = difflib.get_close_matches(name, PLACEHOLDERS, n=1)
        hint = f" (did you mean [{close[0]}]?)" if close else ""
        raise ValueError(f"unknown placeholder [{match.group(1)}] at column {column} of "
                         f"{source!r}{hint}; expected one of "
                         + ", ".join(f"[{p}]" for p in PLACEHOLDERS))
    if rest and name != "BODY":
        raise ValueError(f"only [BODY] takes a path; found {rest!r} after [{name}] at column "
                         f"{column} of {source!r}")
    if rest and rest[0] not in ".[":
        raise ValueError(f"expected '.' or '[' after [BODY] at column "
                         f"{column + len(name) + 2} of {source!r}")
    try:
        path = parse_path(rest[1:] if rest.startswith(".") else rest)
    except ValueError as exc:
        raise ValueError(f"{exc} (in {source!r})") from None
    return Operand("placeholder", name, path, text=text)


def evaluate(condition: Condition, facts: Facts) -> tuple[bool, str]:
    """(passed, shown) where shown reads like Gatus: `[STATUS] (503) == 200`."""
    left = _resolve(condition.left, facts)
    right = _resolve(condition.right, facts)
    passed = _compare(left, condition.op, right, condition.right)
    shown = condition.text
    if condition.left.kind != "literal":
        shown = shown.replace(condition.left.text, f"{condition.left.text} ({_show(left)})", 1)
    return passed, shown


def _resolve(operand: Operand, facts: Facts) -> Any:
    if operand.kind in ("literal", "any", "pat"):
        return operand.values
    if operand.name == "STATUS":
        value: Any = facts.status
    elif operand.name == "RESPONSE_TIME":
        value = round(facts.response_time_ms)
    elif operand.name == "CONNECTED":
        value = facts.connected
    elif not operand.path:
        value = facts.body_text
    else:
        try:
            value = lookup(facts.json(), operand.path)
        except LookupError as exc:
            if operand.kind == "has":
                return False
            raise Unreadable(f"[BODY].{format_path(operand.path)} is not in the response "
                             f"(no {exc})") from None
    if operand.kind == "has":
        return True
    if operand.kind == "len":
        if not isinstance(value, list | dict | str):
            raise Unreadable(f"len() needs a list, object or text, but {operand.text} is "
                             f"{as_text(value)!r}")
        return len(value)
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        return float(value)
    return None


def _compare(left: Any, op: str, right: Any, right_operand: Operand) -> bool:
    if right_operand.kind == "any":
        hit = any(_equal(left, v) for v in right)
        return hit if op == "==" else not hit
    if right_operand.kind == "pat":
        hit = fnmatchcase(as_text(left), right[0])
        return hit if op == "==" else not hit
    if isinstance(right, tuple):
        right = right[0]
    if op in ("==", "!="):
        return _equal(left, right) == (op == "==")
    a, b = _number(left), _number(right)
    if a is None or b is None:
        return False  # ordering needs numbers; the shown value tells the reader why
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _equal(left: Any, right: Any) -> bool:
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return a == b
    return as_text(left) == as_text(right)


def _show(value: Any) -> str:
    text = as_text(value) if not isinstance(value, list | dict) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def check_condition(text: str) -> str:
    """A pydantic AfterValidator: the condition must parse; the text is kept as written."""
    parse_condition(text)
    return text


def check_path(text: str) -> str:
    """A pydantic AfterValidator for JSON paths such as `status.indicator`."""
    if not text.strip():
        raise ValueError("expected a JSON path such as status.indicator")
    parse_path(text)
    return text
