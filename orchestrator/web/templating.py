"""The Jinja2 environment for every page and feed: package templates, autoescape always on."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined


def when(value: str | None) -> str:
    """An ISO 8601 time as `2026-11-22 13:05 UTC` (empty for None)."""
    if not value:
        return ""
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M UTC")


@cache
def environment() -> Environment:
    # autoescape=True for every template, not only *.html: the Atom feed is XML and carries
    # the same untrusted incident text.
    env = Environment(loader=PackageLoader("orchestrator.web", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    return env


def render(name: str, **context: object) -> str:
    return environment().get_template(name).render(**context)
