"""Writes docs/CONFIG.md, the configuration reference, from the pydantic models themselves.

Run `python -m orchestrator.docgen > docs/CONFIG.md`; a test fails when the file is stale.
"""

from __future__ import annotations

import sys
import types
import typing
from datetime import timedelta
from enum import Enum
from typing import Any, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from orchestrator.durations import format_duration

_VALIDATOR_NAMES = {"parse_duration": "duration", "parse_rate": "rate",
                    "_require_env": "secret (${ENV})", "check_url": "URL"}


def _annotated_name(args: tuple) -> str:
    base, *meta = args
    for item in meta:
        name = getattr(getattr(item, "func", None), "__name__", None)
        if name in _VALIDATOR_NAMES:
            return _VALIDATOR_NAMES[name]
    return _type_name(base)


def _union_name(args: tuple) -> str:
    inner = [a for a in args if a is not type(None)]
    text = " or ".join(_type_name(a) for a in inner)
    return text + (" (optional)" if len(inner) < len(args) else "")


def _type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is typing.Annotated:
        return _annotated_name(args)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return _union_name(args)
    if origin in (list, tuple, dict):
        return (f"{'map' if origin is dict else 'list'} of {_type_name(args[-1])}" if args
                else ("map" if origin is dict else "list"))
    if annotation is timedelta:
        return "duration"
    if annotation is SecretStr:
        return "secret (${ENV})"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(f"`{m.value}`" for m in annotation)
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "**required**"
    value = field.default_factory() if field.default_factory else field.default
    if isinstance(value, timedelta):
        return f"`{format_duration(value)}`"
    if isinstance(value, BaseModel):
        return "see below"
    if value is None or value == [] or value == {}:
        return "" if value is None else f"`{value!r}`"
    return f"`{value}`"


def model_table(model: type[BaseModel], note: str = "") -> str:
    lines = [f"### {model.__name__}", ""]
    doc = (model.__doc__ or "").strip().splitlines()
    if doc and not doc[0].startswith("Keys every"):
        lines += [doc[0], ""]
    if note:
        lines += [note, ""]
    lines += ["| key | type | default |", "| --- | --- | --- |"]
    for name, field in model.model_fields.items():
        key = field.alias or name
        lines.append(f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} |")
    return "\n".join(lines) + "\n"


def reference() -> str:
    from channels.registry import channel_classes
    from orchestrator import config
    from orchestrator.monitors.canary import CanaryConfig
    from orchestrator.monitors.http import StateFrom
    from orchestrator.monitors.registry import monitor_classes

    parts = ["# Configuration reference", "",
             "Generated from the models by `python -m orchestrator.docgen`; do not edit by hand.",
             "Unknown keys are errors everywhere. Durations are written `90s`, `3m`, `2h`; rates",
             "`10/s` or `600/m`; secrets only as `${ENV_VAR}`.", "", "## Top level", ""]
    for model in (config.Config, config.PlatformConfig, config.MaintenanceWindow,
                  config.HttpServerConfig, config.ClusterConfig, config.QuietHours,
                  config.AudienceConfig, CanaryConfig):
        parts.append(model_table(model))
    parts += ["## Monitors (`monitors:`, by `kind`)", ""]
    for kind, cls in monitor_classes().items():
        parts.append(model_table(cls.Config, f"`kind: {kind}`"))
    parts.append(model_table(StateFrom))
    parts += ["## Channels (`channels:`, by `kind`)", ""]
    for kind, cls in channel_classes().items():
        caps = cls.capabilities
        what = ", ".join(w for w, on in (("posts", caps.broadcast), ("direct messages",
                                                                   caps.direct)) if on)
        limit = f"; at most {caps.max_length} {caps.length_unit}" if caps.max_length else ""
        parts.append(model_table(cls.Config, f"`kind: {kind}`: sends {what}{limit}."))
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(reference())
