"""`orchestrator incidents`: list, show, update and resolve incident records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from orchestrator.cli.common import config_option, fail, json_option, print_json


@click.group("incidents", invoke_without_command=True)
@click.pass_context
def incidents(ctx: click.Context) -> None:
    """List, show, update and resolve incidents (default: list)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_command)


@incidents.command("list")
@click.option("--state", type=click.Choice(["open", "resolved", "all"]), default="all",
              show_default=True)
@config_option
@json_option
def list_command(state: str = "all", config_path: Path | None = None,
                 as_json: bool = False) -> None:
    """Incidents, newest first."""
    from sqlalchemy import select

    from orchestrator.cli import runtime
    from orchestrator.store.schema import incidents as table

    loaded = runtime.load(config_path)
    rows: list[dict[str, Any]] = []
    eng = runtime.existing_engine(loaded)
    if eng is not None:
        query = select(table).order_by(table.c.id.desc())
        if state != "all":
            query = query.where(table.c.state == state)
        try:
            with eng.connect() as conn:
                rows = [_incident(r) for r in conn.execute(query)]
        finally:
            eng.dispose()
    if as_json:
        print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    out = Table(title=f"Incidents ({len(rows)})", title_justify="left")
    for column in ("id", "state", "kind", "platform", "title", "started", "resolved"):
        out.add_column(column)
    for r in rows:
        out.add_row(str(r["id"]), r["state"], r["kind"], r["platform"] or "", r["title"],
                    str(r["started_at"]), str(r["resolved_at"] or ""))
    Console().print(out)


@incidents.command("show")
@click.argument("incident_id", type=int, metavar="ID")
@config_option
@json_option
def show_command(incident_id: int, config_path: Path | None, as_json: bool) -> None:
    """One incident: its timeline and its playbook runs with every step."""
    from orchestrator.cli import runtime

    loaded = runtime.load(config_path)
    eng = runtime.existing_engine(loaded)
    if eng is None:
        fail(f"no incident {incident_id} (the store is empty)")
    try:
        data = details(eng, incident_id)
    finally:
        eng.dispose()
    if data is None:
        fail(f"no incident {incident_id}")
    if as_json:
        print_json(data)
        return
    _print_details(data)


@incidents.command("update")
@click.argument("incident_id", type=int, metavar="ID")
@click.option("--message", "-m", required=True, help="What is new, in plain words.")
@click.option("--private", is_flag=True, help="Keep it off the public status page.")
@click.option("--by", default=None, help="Who writes it (default: cli:<login name>).")
@config_option
def update_command(incident_id: int, message: str, private: bool, by: str | None,
                   config_path: Path | None) -> None:
    """Add an update to the timeline; later templates read it as incident.last_update."""
    from orchestrator.cli import runtime
    from orchestrator.incidents import append_event, transaction
    from orchestrator.playbook import ledger
    from orchestrator.store.types import utcnow

    loaded = runtime.load(config_path)
    with runtime.engine(loaded) as eng, transaction(eng) as conn:
        if ledger.get_incident(conn, incident_id) is None:
            fail(f"no incident {incident_id}")
        append_event(conn, incident_id, "update", utcnow(), runtime.actor(by), message,
                     public=not private)
    click.echo(f"incident {incident_id}: update added")


@incidents.command("resolve")
@click.argument("incident_id", type=int, metavar="ID")
@click.option("--message", "-m", default=None, help="Why it is resolved.")
@click.option("--by", default=None, help="Who resolves it (default: cli:<login name>).")
@config_option
def resolve_command(incident_id: int, message: str | None, by: str | None,
                    config_path: Path | None) -> None:
    """Resolve an incident by hand; its playbooks run their on_resolve steps."""
    from orchestrator.cli import runtime
    from orchestrator.playbook import ledger

    loaded = runtime.load(config_path)
    with runtime.engine(loaded) as eng:
        with eng.connect() as conn:
            incident = ledger.get_incident(conn, incident_id)
        if incident is None:
            fail(f"no incident {incident_id}")
        if incident.state == "resolved":
            fail(f"incident {incident_id} is already resolved")
        runtime.runner(loaded, eng).resolve(incident_id, by=runtime.actor(by), message=message)
    click.echo(f"incident {incident_id} resolved")


def _incident(row: Any) -> dict[str, Any]:
    return {k: getattr(row, k) for k in ("id", "key", "kind", "state", "platform", "title",
                                          "platform_state", "started_at", "resolved_at",
                                          "created_by")}


def details(eng: Any, incident_id: int) -> dict[str, Any] | None:
    """An incident with its timeline and runs, as plain data."""
    from sqlalchemy import select

    from orchestrator.cli.runtime import steps_of
    from orchestrator.playbook import ledger
    from orchestrator.store.schema import incident_events, playbook_runs

    with eng.connect() as conn:
        incident = ledger.get_incident(conn, incident_id)
        if incident is None:
            return None
        events = conn.execute(select(incident_events).where(
            incident_events.c.incident_id == incident_id).order_by(
            incident_events.c.at, incident_events.c.id)).all()
        runs = conn.execute(select(playbook_runs).where(
            playbook_runs.c.incident_id == incident_id).order_by(playbook_runs.c.id)).all()
    return {
        **_incident(incident),
        "timeline": [{"at": e.at, "kind": e.kind, "actor": e.actor, "public": e.public,
                      "message": e.message} for e in events],
        "runs": [{"id": r.id, "playbook": r.playbook, "state": r.state,
                  "started_at": r.started_at, "finished_at": r.finished_at,
                  "update_count": r.update_count, "next_update_at": r.next_update_at,
                  "steps": steps_of(eng, r.id)} for r in runs],
    }


def _print_details(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]Incident {data['id']}[/bold]: {data['title']} ({data['state']}, "
                  f"{data['kind']}) since {data['started_at']}"
                  + (f", resolved {data['resolved_at']}" if data["resolved_at"] else ""))
    timeline = Table(title="Timeline", title_justify="left")
    for column in ("at", "kind", "by", "public", "message"):
        timeline.add_column(column)
    for e in data["timeline"]:
        timeline.add_row(str(e["at"]), e["kind"], e["actor"] or "", "yes" if e["public"] else "",
                         e["message"] or "")
    console.print(timeline)
    for run in data["runs"]:
        table = Table(title=f"Run {run['id']}: {run['playbook']} ({run['state']}, "
                      f"{run['update_count']} updates)", title_justify="left")
        for column in ("phase", "#", "kind", "state", "reason"):
            table.add_column(column)
        for s in run["steps"]:
            where = f"{s['step_index']}" + (f" (update {s['iteration']})"
                                            if s["phase"] == "every" else "")
            table.add_row(s["phase"], where, s["kind"], s["state"], s["reason"] or "")
        console.print(table)
