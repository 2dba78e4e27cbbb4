"""`orchestrator outbox`: the delivery ledger — list rows, retry failed ones, send pending ones."""

from __future__ import annotations

import asyncio
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

STATES = ("pending", "in_flight", "sent", "failed", "unknown", "suppressed")
# Columns of `outbox list`, in order; the body is left to --json (it can be long).
LIST_COLUMNS = ("id", "state", "channel", "recipient", "attempts", "next_attempt_at",
                "provider_id", "last_error")


@click.group("outbox")
def outbox() -> None:
    """The delivery ledger: list messages and retry failed ones."""


def _engine(config_path: Path | None):
    from orchestrator.cli.db import storage_url
    from orchestrator.store.engine import make_engine
    from orchestrator.store.migrate import upgrade

    engine = make_engine(storage_url(None, config_path))
    upgrade(engine)
    return engine


@outbox.command("list")
@config_option
@click.option("--state", type=click.Choice(STATES), default=None, help="Only rows in this state.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@json_option
def list_command(config_path: Path | None, state: str | None, limit: int, as_json: bool) -> None:
    """List outbox rows, oldest first, with a count per state."""
    from orchestrator.outbox import Outbox

    engine = _engine(config_path)
    try:
        box = Outbox(engine)
        rows, counts = box.rows(state, limit=limit), box.counts()
    finally:
        engine.dispose()
    if as_json:
        print_json({"counts": counts, "rows": rows})
        return
    render_rows(rows, counts)


def render_rows(rows: list[dict[str, Any]], counts: dict[str, int]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*LIST_COLUMNS, title="outbox", caption=", ".join(
        f"{state}: {counts.get(state, 0)}" for state in STATES))
    for row in rows:
        table.add_row(*("" if row.get(c) is None else _short(str(row[c])) for c in LIST_COLUMNS))
    Console().print(table)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


@outbox.command("retry")
@config_option
@click.argument("row_id", required=False, type=int)
@click.option("--failed", "all_failed", is_flag=True, help="Retry every failed row.")
@click.option("--unknown", "all_unknown", is_flag=True,
              help="Retry every row whose outcome is unknown (you checked it was not sent).")
def retry_command(config_path: Path | None, row_id: int | None, all_failed: bool,
                  all_unknown: bool) -> None:
    """Put a failed or unknown row (ID), or every failed one (--failed), back to pending."""
    from orchestrator.outbox import Outbox

    if (row_id is None) == (not all_failed and not all_unknown):
        fail("give a row ID, or --failed / --unknown (not both)", EXIT_USAGE)
    states = [s for s, on in (("failed", all_failed), ("unknown", all_unknown)) if on]
    engine = _engine(config_path)
    try:
        box = Outbox(engine)
        if row_id is not None:
            chosen = box.retry([row_id])
            if not chosen:
                rows = [r for r in box.rows(limit=None) if r["id"] == row_id]
                fail(f"outbox row {row_id} " + (f"is {rows[0]['state']}: only failed or unknown "
                                                "rows can be retried" if rows else "not found"),
                     EXIT_PROBLEMS)
        else:
            chosen = box.retry(states=states)
    finally:
        engine.dispose()
    click.echo(f"{len(chosen)} row(s) back to pending; `orchestrator run` (or `orchestrator "
               "outbox send`) delivers them.")


@outbox.command("send")
@config_option
@click.option("--horizon", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Also wait for retries due within this many seconds.")
def send_command(config_path: Path | None, horizon: float) -> None:
    """Deliver every pending row now through the configured channels, with a progress bar."""
    from orchestrator.config import load_config
    from orchestrator.errors import ConfigError

    try:
        config = load_config(resolve_config_path(config_path))
    except ConfigError as exc:
        fail(str(exc))
    engine = _engine(config_path)
    try:
        from orchestrator.gctune import tune_for_fan_out

        tune_for_fan_out()
        stats = asyncio.run(_send(engine, config, horizon))
    finally:
        engine.dispose()
    click.echo(", ".join(f"{k}: {v}" for k, v in vars(stats).items() if v))
    if stats.failed or stats.unknown:
        raise SystemExit(EXIT_PROBLEMS)


async def _send(engine: Any, config: Any, horizon: float):
    from orchestrator.delivery import build_channels
    from orchestrator.dispatcher import Dispatcher, quiet_window
    from orchestrator.outbox import Outbox

    waiting = Outbox(engine).counts().get("pending", 0)
    dispatcher = Dispatcher(engine, build_channels(config), quiet=quiet_window(config))
    try:
        return await dispatch_with_progress(dispatcher, total=waiting, horizon=horizon)
    finally:
        await dispatcher.aclose()


async def dispatch_with_progress(dispatcher: Any, *, total: int | None = None,
                                 horizon: float = 30.0, console: Any = None,
                                 description: str = "sending"):
    """Run `dispatcher.run_until_idle` under a rich progress bar of settled rows; returns
    its DispatchStats. For any fan-out started from the CLI."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[detail]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task_id = progress.add_task(description, total=total or None, detail="")
        run = asyncio.create_task(dispatcher.run_until_idle(horizon=horizon))
        while not run.done():
            await asyncio.wait({run}, timeout=0.1)
            stats = dispatcher.stats
            done = stats.sent + stats.failed + stats.suppressed + stats.unknown \
                + stats.failed_over
            progress.update(task_id, completed=done, detail=(
                f"sent {stats.sent} · failed {stats.failed} · retrying {stats.retried}"))
        return run.result()
