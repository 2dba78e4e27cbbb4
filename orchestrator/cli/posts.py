"""`orchestrator posts`: list, add, import, pause and resume the content calendar."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from orchestrator.cli.common import (
    EXIT_PROBLEMS,
    EXIT_USAGE,
    config_option,
    fail,
    json_option,
    print_json,
    resolve_config_path,
)

STATES = ("scheduled", "publishing", "paused", "published", "skipped", "failed", "held")
RULES = ("publish_now", "next_slot", "skip", "hold")


def _person() -> str:
    """Who is at the keyboard: pauses and resumes by hand are recorded under their name."""
    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):
        return "user:unknown"


def _config(config_path: Path | None) -> Any:
    from orchestrator.config import load_config
    from orchestrator.errors import ConfigError

    path = resolve_config_path(config_path)
    try:
        return load_config(path)
    except ConfigError as exc:
        fail(f"{path}: invalid configuration (run `orchestrator validate`): {exc}", EXIT_PROBLEMS)


@contextmanager
def _store(config: Any) -> Iterator[Any]:
    from orchestrator.cli.db import STORAGE_ENV
    from orchestrator.store.engine import make_engine
    from orchestrator.store.migrate import upgrade

    engine = make_engine(os.environ.get(STORAGE_ENV) or config.storage)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


def selector_options(f):
    for option in reversed([
        click.option("--channel", "channels", multiple=True, help="A channel (repeatable)."),
        click.option("--platform", "platforms", multiple=True,
                     help="Posts on channels depending on this platform (repeatable)."),
        click.option("--campaign", "campaigns", multiple=True, help="A campaign (repeatable)."),
        click.option("--tag", "tags", multiple=True, help="A tag (repeatable)."),
        click.option("--all", "all_", is_flag=True, help="Every post."),
    ]):
        f = option(f)
    return f


def _selector(channels, platforms, campaigns, tags, all_) -> Any:
    from orchestrator.posts import Selector

    return Selector(channels=tuple(channels), platforms=tuple(platforms),
                    campaigns=tuple(campaigns), tags=tuple(tags), all=all_)


@click.group("posts")
def posts() -> None:
    """The content calendar: list, add, import, pause and resume posts."""


@posts.command("list")
@config_option
@json_option
@click.option("--state", type=click.Choice(STATES), default=None, help="Only posts in STATE.")
@click.option("--channel", default=None, help="Only posts on CHANNEL.")
def list_command(config_path, as_json, state, channel) -> None:
    """List posts in calendar order."""
    from orchestrator.posts import list_posts

    config = _config(config_path)
    with _store(config) as engine:
        found = list_posts(engine, state=state, channel=channel)
    if as_json:
        print_json([p.as_json() for p in found])
        return
    _table(found)


def _table(found: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "publish at (UTC)", "channel", "state", "campaign", "text", "note")
    for p in found:
        note = p.pause_reason if p.state in ("paused", "held") else (p.last_error or "")
        table.add_row(str(p.id), p.publish_at.strftime("%Y-%m-%d %H:%M:%S"), p.channel,
                      p.state, p.campaign or "", _short(p.text), _short(note or ""))
    Console(width=160).print(table)
    click.echo(f"{len(found)} post(s)")


def _short(text: str, limit: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


@posts.command("add")
@config_option
@click.option("--channel", required=True, help="The channel to publish on.")
@click.option("--at", "at", required=True,
              help="When: ISO 8601; without an offset it is in the config's time zone.")
@click.option("--text", required=True, help="The post.")
@click.option("--campaign", default=None)
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option("--media-url", default=None)
def add_command(config_path, channel, at, text, campaign, tags, media_url) -> None:
    """Schedule one post."""
    from orchestrator.post_import import parse_time
    from orchestrator.posts import PostError, add_post

    config = _config(config_path)
    try:
        publish_at = parse_time(at, config.timezone)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    with _store(config) as engine:
        try:
            post_id = add_post(engine, config, channel=channel, text=text, publish_at=publish_at,
                               campaign=campaign, tags=tags, media_url=media_url, by=_person())
        except PostError as exc:
            fail(str(exc), EXIT_USAGE)
    click.echo(f"post {post_id} scheduled on {channel} at {publish_at.astimezone(UTC).isoformat()}")


@posts.command("import")
@config_option
@json_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(config_path, as_json, file: Path) -> None:
    """Schedule the posts of a CSV or YAML FILE; bad rows are listed by line (exit 1)."""
    from orchestrator.post_import import import_posts

    config = _config(config_path)
    with _store(config) as engine:
        report = import_posts(engine, config, file, by=_person())
    if as_json:
        print_json({"imported": list(report.imported),
                    "problems": [{"line": n, "message": m} for n, m in report.problems]})
    else:
        for line in report.lines(file):
            click.echo(line, err=True)
        click.echo(f"imported {len(report.imported)} post(s); "
                   f"{len(report.problems)} row(s) with problems")
    if report.problems:
        raise SystemExit(EXIT_PROBLEMS)


@posts.command("pause")
@config_option
@json_option
@selector_options
@click.option("--reason", required=True, help="Why (recorded with your user name).")
def pause_command(config_path, as_json, channels, platforms, campaigns, tags, all_,
                  reason) -> None:
    """Pause the selected posts (any post matching any option) until resumed."""
    from orchestrator.posts import pause_posts

    selector = _selector(channels, platforms, campaigns, tags, all_)
    if selector.is_empty():
        fail("say which posts: --channel, --platform, --campaign, --tag or --all", EXIT_USAGE)
    config = _config(config_path)
    with _store(config) as engine:
        paused = pause_posts(engine, config, selector, reason=reason, by=_person(),
                             now=datetime.now(UTC))
    if as_json:
        print_json({"paused": paused})
    else:
        click.echo(f"paused {len(paused)} post(s)" + (f": {', '.join(map(str, paused))}"
                                                      if paused else ""))


@posts.command("resume")
@config_option
@json_option
@selector_options
@click.option("--missed", type=click.Choice(RULES), default="next_slot", show_default=True,
              help="What happens to posts whose time passed while paused.")
@click.option("--id", "ids", type=int, multiple=True,
              help="A paused or held post (repeatable): how a person decides about held ones.")
@click.option("--run", "run_id", type=int, default=None, help="What this playbook run paused.")
def resume_command(config_path, as_json, channels, platforms, campaigns, tags, all_, missed,
                   ids, run_id) -> None:
    """Resume paused posts (by --id, --run or a selector) under a missed-post rule."""
    from orchestrator.posts import resume_posts

    selector = _selector(channels, platforms, campaigns, tags, all_)
    if not ids and run_id is None and selector.is_empty():
        fail("say which posts: --id, --run, --channel, --platform, --campaign, --tag or --all",
             EXIT_USAGE)
    config = _config(config_path)
    with _store(config) as engine:
        report = resume_posts(engine, config, run_id=run_id,
                              selector=None if selector.is_empty() else selector, ids=ids,
                              missed=missed, by=_person(), now=datetime.now(UTC))
    if as_json:
        print_json(report.as_json())
        return
    click.echo(f"resumed {len(report.resumed)} on time, {len(report.rescheduled)} missed "
               f"({missed}), {len(report.pushed)} pushed, {len(report.skipped)} skipped, "
               f"{len(report.held)} held")
    for post_id, error in report.errors:
        click.echo(f"post {post_id}: {error}", err=True)
    if report.errors:
        raise SystemExit(EXIT_PROBLEMS)
