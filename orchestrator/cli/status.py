"""`orchestrator status`: the leader, its lease age and token, queue depth, and replicas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from orchestrator.cli.common import config_option, json_option, print_json
from orchestrator.cli.db import _database_errors, storage_url, url_option


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if abs(seconds) < 120:
        return f"{seconds:.1f}s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def _leader_lines(status: Any) -> list[str]:
    if not status.leaders:
        return ["leader: none (no replica has taken a lease yet)"]
    lines = []
    for lead in status.leaders:
        if lead.live:
            lines.append(f"leader ({lead.lease}): {lead.holder}  token {lead.token}  "
                         f"lease age {_age(lead.lease_age)}  renewed {_age(lead.renewed_age)} "
                         f"ago  expires in {_age(lead.expires_in)}")
        else:
            last = f"last holder {lead.holder}" if lead.holder else "released"
            lines.append(f"leader ({lead.lease}): none ({last}, token {lead.token})")
    return lines


def _replica_table(status: Any) -> Any:
    from rich.table import Table

    table = Table(title="replicas")
    for column in ("id", "host", "pid", "heartbeat age", "state", "role"):
        table.add_column(column)
    for r in status.replicas:
        table.add_row(r.id, r.hostname, str(r.pid), _age(r.heartbeat_age),
                      "alive" if r.alive else "stale", "leader" if r.leader else "follower")
    return table


@click.command("status")
@config_option
@url_option
@click.option("--cluster", is_flag=True, help="List every replica with its heartbeat age.")
@json_option
def status(config_path: Path | None, url: str | None, cluster: bool, as_json: bool) -> None:
    """Show the leader, its lease age and token, and queue depth (and replicas with --cluster)."""
    from orchestrator.replicas import cluster_status
    from orchestrator.store.engine import make_engine

    target = storage_url(url, config_path)
    with _database_errors(target):
        engine = make_engine(target)
        try:
            result = cluster_status(engine)
        finally:
            engine.dispose()
    if as_json:
        data = result.to_json()
        if not cluster:
            data["replicas"] = {"count": len(result.replicas),
                                "alive": sum(r.alive for r in result.replicas)}
        print_json(data)
        return
    for line in _leader_lines(result):
        click.echo(line)
    q = result.queue
    click.echo(f"queue: {q['pending']} pending ({q['due']} due now), {q['in_flight']} in flight, "
               f"{q['unknown']} unknown, {q['failed']} failed")
    alive = sum(r.alive for r in result.replicas)
    click.echo(f"replicas: {alive} alive of {len(result.replicas)} registered")
    if cluster:
        from rich.console import Console

        Console(width=120).print(_replica_table(result))
