"""Turns pydantic's validation errors into located Problems that speak the user's language."""

from __future__ import annotations

import types
import typing
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from orchestrator.problems import Path, Problem, suggest, unknown_name
from orchestrator.yamlsource import Source


def validate(model: type[BaseModel], source: Source, path_prefix: Path = ()) -> Any:
    """Validate `source.data` as `model`; on failure add every error to source.problems."""
    if not isinstance(source.data, dict):
        found = "a list" if isinstance(source.data, list) else repr(source.data)
        source.problem((), f"the file must be a mapping of keys such as "
                       f"{', '.join(list(model.model_fields)[:3])}, ...; found {found}")
        return None
    refused = [p.path for p in source.problems]
    before = len(source.problems)
    try:
        return model.model_validate(source.data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            _add(model, source, error, path_prefix)
        new = _without_noise(source.problems[before:], refused)
        source.problems[before:] = new
        return None


def _without_noise(problems: list[Problem], refused: list[Path]) -> list[Problem]:
    """Drop errors that only restate another: a value we refused to read, or a required key
    that is 'missing' because the user misspelt it (the unknown-key error already says so)."""
    suggested = {(p.path[:-1], p.message.split("Did you mean ")[1].strip("'?"))
                 for p in problems if "unknown key" in p.message and "Did you mean" in p.message}
    kept = []
    for problem in problems:
        if any(r[:len(problem.path)] == problem.path for r in refused):
            continue
        if problem.message.startswith("missing required key "):
            key = problem.message.removeprefix("missing required key ").strip("'")
            if (problem.path, key) in suggested:
                continue
        kept.append(problem)
    return kept


def _data_path(data: Any, loc: tuple) -> Path:
    """Follow pydantic's loc through the data, dropping parts that are not in the data
    (union tags, validator names), so the path names only what the user wrote."""
    path: list[str | int] = []
    current = data
    for part in loc:
        if isinstance(current, dict) and part in current:
            path.append(part)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
    return tuple(path)


def _value_at(data: Any, path: Path) -> Any:
    for part in path:
        data = data[part]
    return data


def _add(model: type[BaseModel], source: Source, error: dict, prefix: Path) -> None:
    loc = tuple(error["loc"])
    path = _data_path(source.data, loc)
    kind, msg = error["type"], error["msg"]
    if kind == "extra_forbidden":
        key = path[-1] if path else loc[-1]
        allowed = _fields_at(model, loc[:-1])
        hint = suggest(str(key), allowed) if allowed else ""
        listing = f" (allowed: {', '.join(sorted(allowed))})" if allowed and not hint else ""
        source.problem(path, f"unknown key {key!r}{'.' + hint if hint else ''}{listing}",
                       key=True)
        return
    if kind == "missing":
        source.problem(path, f"missing required key {loc[-1]!r}")
        return
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        source.problem((*path, "kind"), unknown_name("kind", ctx.get("tag"), tags))
        return
    if kind == "union_tag_not_found":
        source.problem(path, _step_key_message(_value_at(source.data, path)))
        return
    if kind == "literal_error":
        value = _value_at(source.data, path)
        expected = str(error.get("ctx", {}).get("expected", ""))
        choices = [c.strip(" '") for c in expected.replace(" or ", ",").split(",")]
        source.problem(path, f"{value!r} is not one of {expected}.{suggest(str(value), choices)}"
                       .rstrip("."))
        return
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    elif msg.startswith("Assertion failed, "):
        msg = msg[len("Assertion failed, "):]
    else:
        msg = msg[0].lower() + msg[1:]
    source.problem(path, msg)


def _step_key_message(value: Any) -> str:
    from orchestrator.playbook.model import STEP_KINDS
    kinds = ", ".join(STEP_KINDS)
    if not isinstance(value, dict):
        return f"a step must be a mapping with one action key ({kinds})"
    found = [k for k in value if k in STEP_KINDS]
    if len(found) > 1:
        return f"a step has exactly one action; this one has {', '.join(found)}: split it in two"
    unknown = [k for k in value if k not in ("when", "continue_on_error", "name")]
    if unknown:
        return unknown_name("step action", unknown[0], STEP_KINDS)
    return f"this step has no action: add one of {kinds}"


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed at `loc`, walking the model's annotations (unions by their tag)."""
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [f.alias or name for name, f in annotation.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def _step(annotation: Any, part: Any) -> Any:
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    if origin is list:
        return get_args(annotation)[0] if isinstance(part, int) else None
    if origin is dict:
        return get_args(annotation)[1]
    if origin in (Union, types.UnionType):
        for member in get_args(annotation):
            member = _unwrap(member)
            if isinstance(member, type) and issubclass(member, BaseModel):
                kind = member.model_fields.get("kind")
                if kind is not None and part in get_args(kind.annotation):
                    return member
                if part in member.model_fields and "kind" not in member.model_fields:
                    return member  # playbook steps: the tag is the action key
        return None
    return None
