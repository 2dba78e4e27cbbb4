"""Playbook templates: a Jinja2 sandbox with StrictUndefined, checked at load, rendered on data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment

from orchestrator.problems import suggest, unknown_name

# What a template may read, root by root; None means "any key" (checked elsewhere or free-form).
CONTEXT_SCHEMA: dict[str, frozenset[str] | None] = {
    "platform": frozenset({"name", "display_name", "family", "state"}),
    "incident": frozenset({"id", "title", "kind", "state", "started_at", "resolved_at",
                           "duration", "url", "platform", "update_count", "last_update"}),
    "run": frozenset({"id", "playbook", "update_number", "started_at"}),
    "channel": frozenset({"name", "kind"}),
    "surviving": None,   # list of channel names that still work
    "down": None,        # list of platform names that are down
    "vars": None,        # checked against the playbook's declared vars
    "now": None,
}
REFUSED_FILTERS = frozenset({"attr"})
REFUSED_ATTRIBUTES = frozenset({"format_map", "mro", "gi_frame", "f_globals", "func_globals"})


def _humanize(value: Any) -> str:
    """`timedelta(hours=2, minutes=5)` → `2 hours 5 minutes`; seconds only under a minute."""
    if not isinstance(value, timedelta):
        return str(value)
    total = int(value.total_seconds())
    if total < 60:
        return f"{total} second{'s' if total != 1 else ''}"
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts[:2])


def _formatter(pattern: str, tz_name: str):
    def format_time(value: Any, fmt: str | None = None) -> str:
        if not isinstance(value, datetime):
            return str(value)
        if value.tzinfo is not None:
            value = value.astimezone(ZoneInfo(tz_name))
        return value.strftime(fmt or pattern)
    return format_time


@cache
def environment(tz_name: str = "UTC") -> SandboxedEnvironment:
    """The one sandbox playbook templates render in (per time zone, for the time filters)."""
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                               keep_trailing_newline=False)
    env.filters["time"] = _formatter("%H:%M %Z", tz_name)
    env.filters["date"] = _formatter("%b %d, %Y", tz_name)
    env.filters["datetime"] = _formatter("%b %d, %Y %H:%M %Z", tz_name)
    env.filters["humanize"] = _humanize
    return env


@dataclass(frozen=True)
class TemplateIssue:
    """A problem in a template, with its 1-based line inside the template text."""

    line: int
    message: str


def _walk_issues(ast: nodes.Node, var_names: frozenset[str]) -> list[TemplateIssue]:
    issues: list[TemplateIssue] = []
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Name)):
        line = node.lineno or 1
        if isinstance(node, nodes.Filter) and node.name in REFUSED_FILTERS:
            issues.append(TemplateIssue(line, f"the '{node.name}' filter is not allowed"))
        attr = _attribute(node)
        if attr is None:
            continue
        if attr.startswith("_") or attr in REFUSED_ATTRIBUTES:
            issues.append(TemplateIssue(line, f"access to {attr!r} is not allowed in templates"))
            continue
        root = node.node.name if isinstance(node.node, nodes.Name) else None  # type: ignore[attr-defined]
        if root == "vars" and attr not in var_names:
            hint = suggest(attr, var_names)
            issues.append(TemplateIssue(line, f"vars.{attr} is not declared under vars" + (
                f".{hint}" if hint else f"; declare it (e.g. vars: {{{attr}: null}}) "
                "to set it with --var")))
        elif root in CONTEXT_SCHEMA and CONTEXT_SCHEMA[root] is not None \
                and attr not in CONTEXT_SCHEMA[root]:  # type: ignore[operator]
            known = CONTEXT_SCHEMA[root]
            issues.append(TemplateIssue(line, unknown_name(f"attribute of {root}:", attr, known)))
    return issues


def _free_names(ast: nodes.Template) -> set[str]:
    """Names read but never assigned (`set`, `for`, macro arguments) anywhere in the template.

    Coarser than jinja2.meta's scope analysis, and several times faster; playbook templates
    are short enough that a name set anywhere is fair to treat as set everywhere."""
    loaded, stored = set(), set()
    for node in ast.find_all(nodes.Name):
        (stored if node.ctx in ("store", "param") else loaded).add(node.name)
    return loaded - stored - {"loop", "range", "dict", "lipsum", "cycler", "joiner", "namespace"}


def _attribute(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) \
            and isinstance(node.arg.value, str):
        return node.arg.value
    return None


def check_template(source: str, var_names: frozenset[str], *, expression: bool = False,
                   tz_name: str = "UTC") -> list[TemplateIssue]:
    """Every load-time problem of one template (or `when:` expression); empty when it is sound."""
    env = environment(tz_name)
    try:
        ast = _parse_expression(env, source) if expression else env.parse(source)
    except TemplateSyntaxError as exc:
        kind = "expression syntax" if expression else "template syntax"
        message = (exc.message or "").replace("'end of template'", "end of expression"
                                              if expression else "end of template")
        return [TemplateIssue(exc.lineno or 1, f"{kind}: {message}")]
    # Checking filter and test names on the tree finds what compiling would (unknown names)
    # at a sixth of the cost; rendering compiles later, once per template.
    unknown = [TemplateIssue(n.lineno or 1, f"template error: no filter named {n.name!r}."
                             f"{suggest(n.name, env.filters)}".rstrip("."))
               for n in ast.find_all(nodes.Filter) if n.name not in env.filters]
    unknown += [TemplateIssue(n.lineno or 1, f"template error: no test named {n.name!r}."
                              f"{suggest(n.name, env.tests)}".rstrip("."))
                for n in ast.find_all(nodes.Test) if n.name not in env.tests]
    if unknown:
        return unknown
    issues = []
    for name in sorted(_free_names(ast)):
        if name not in CONTEXT_SCHEMA:
            issues.append(TemplateIssue(1, unknown_name("variable", name, CONTEXT_SCHEMA)))
    return issues + _walk_issues(ast, var_names)


def _parse_expression(env: SandboxedEnvironment, source: str) -> nodes.Template:
    """Parse a `when:` expression exactly as compile_expression would, without compiling."""
    parser = Parser(env, source, state="variable")
    expr = parser.parse_expression()
    if not parser.stream.eos:
        raise TemplateSyntaxError("unexpected text after the expression",
                                  parser.stream.current.lineno, None, None)
    template = nodes.Template([nodes.Output([expr])], lineno=1)
    template.set_environment(env)
    return template


def is_static(source: str) -> bool:
    """True when the text has no Jinja2 markup, so its rendered length is known at load time."""
    return "{{" not in source and "{%" not in source and "{#" not in source


def render(source: str, context: Mapping[str, Any], tz_name: str = "UTC") -> str:
    """Render one template on plain data; raises jinja2 errors for the caller to record."""
    return _compiled(source, tz_name).render(context).strip()


def evaluate(expression: str, context: Mapping[str, Any], tz_name: str = "UTC") -> bool:
    """Evaluate a `when:`/`until:` expression to a boolean."""
    return bool(environment(tz_name).compile_expression(expression)(**context))


@cache
def _compiled(source: str, tz_name: str):
    return environment(tz_name).from_string(source)
