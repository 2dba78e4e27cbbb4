"""`orchestrator check`: poll every monitor and canary once and print each platform's state."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from orchestrator.cli.common import (
    EXIT_NOT_OPERATIONAL,
    EXIT_OK,
    EXIT_PROBLEMS,
    config_option,
    json_option,
    print_json,
    resolve_config_path,
)


@click.command("check")
@config_option
@json_option
def check(config_path: Path | None, as_json: bool) -> None:
    """Poll every monitor once and print each platform's state.

    Exits 0 when every monitored platform is operational, 3 when any is not (or when every
    canary failed: our own network is down), 1 when the config has problems.
    """
    from orchestrator.loader import read_config

    path = resolve_config_path(config_path)
    # Polling needs no channel credentials: unset secrets are not a reason to refuse.
    config, source = read_config(path, missing_env="warning")
    if config is None:
        for problem in source.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(EXIT_PROBLEMS)
    report = asyncio.run(poll(config))
    summary = summarize(config, report, stored_states(config.storage))
    if as_json:
        print_json(summary)
    else:
        render(summary)
    raise SystemExit(EXIT_OK if summary["all_operational"] else EXIT_NOT_OPERATIONAL)


async def poll(config: Any) -> Any:
    """One concurrent poll of everything, judged by a detector in one-shot mode."""
    from orchestrator.detector import Detector
    from orchestrator.poller import Poller

    poller = Poller.from_config(config, detector=Detector.from_config(config, one_shot=True))
    try:
        return await poller.poll_once()
    finally:
        await poller.aclose()


def summarize(config: Any, report: Any, stored: dict[str, Any]) -> dict[str, Any]:
    """The check's result as plain data: one entry per platform, the canaries, the verdict."""
    by_platform: dict[str, list[Any]] = {}
    for obs in report.observations:
        by_platform.setdefault(obs.platform, []).append(obs)
    kinds = {m.name: m.kind for m in config.monitors}
    platforms = []
    for name in sorted(set(config.platforms) | set(by_platform)):
        observations = sorted(by_platform.get(name, []), key=lambda o: o.monitor)
        track = report.state.platforms.get(name)
        state = track.state if track is not None else None
        if observations and state is None:
            state = "unknown"  # our network was down: nothing could be judged
        latencies = [o.latency_ms for o in observations if o.latency_ms is not None]
        row = stored.get(name)
        platforms.append({
            "platform": name,
            "display_name": config.platform_label(name),
            "state": state,
            "monitored": bool(observations),
            "reason": track.reason if track is not None else "",
            "latency_ms": round(max(latencies), 1) if latencies else None,
            "last_change": row["since"] if row and row["state"] == state else None,
            "monitors": [{"name": o.monitor, "kind": kinds.get(o.monitor), "ok": o.ok,
                          "state": o.state, "reason": o.reason,
                          "latency_ms": None if o.latency_ms is None else round(o.latency_ms, 1)}
                         for o in observations],
        })
    canaries = [{"name": r.name, "url": r.url, "ok": r.ok, "reason": r.reason}
                for r in (report.canaries.results if report.canaries is not None else ())]
    monitored = [p for p in platforms if p["monitored"]]
    return {
        "platforms": platforms,
        "canaries": canaries,
        "local_network_problem": report.network_problem,
        "all_operational": not report.network_problem
        and all(p["state"] == "operational" for p in monitored),
    }


def stored_states(storage: str) -> dict[str, Any]:
    """The daemon's recorded platform states (for "last change"), or {} when there is none."""
    try:
        from sqlalchemy import select

        from orchestrator.store.engine import make_engine, normalize_url
        from orchestrator.store.schema import platform_states

        url = normalize_url(storage)
        if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
            return {}  # never create a database just to look at it
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                return {r.platform: {"state": r.state, "since": r.since}
                        for r in conn.execute(select(platform_states))}
        finally:
            engine.dispose()
    except Exception:  # noqa: BLE001 - "last change" is a nicety; the check stands without it
        return {}


_STYLE = {"operational": "green", "maintenance": "blue", "degraded": "yellow",
          "partial_outage": "dark_orange", "major_outage": "bold red", "unknown": "magenta"}


def render(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title="Platform check")
    for column in ("platform", "state", "signal", "latency", "last change"):
        table.add_column(column, no_wrap=column != "signal")
    for p in summary["platforms"]:
        state = p["state"] or "not monitored"
        signal = "; ".join(_signal(m) for m in p["monitors"]) or "no monitor"
        latency = f"{p['latency_ms']:.0f} ms" if p["latency_ms"] is not None else "-"
        table.add_row(escape(p["display_name"]), f"[{_STYLE.get(state, 'dim')}]{state}[/]",
                      escape(signal), latency, _when(p["last_change"]))
    console.print(table)
    failed = [c for c in summary["canaries"] if not c["ok"]]
    if summary["local_network_problem"]:
        console.print("[bold red]local network problem:[/] every canary failed ("
                      + escape("; ".join(f"{c['name']}: {c['reason']}" for c in failed))
                      + "). No platform is judged down; check this machine's network.")
    elif summary["canaries"]:
        ok = len(summary["canaries"]) - len(failed)
        console.print(f"canaries: {ok} of {len(summary['canaries'])} answered")


def _signal(monitor: dict[str, Any]) -> str:
    if not monitor["ok"]:
        return f"{monitor['name']}: failed ({monitor['reason']})"
    text = f"{monitor['name']}: {monitor['state']}"
    return f"{text} ({monitor['reason']})" if monitor["reason"] else text


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"
