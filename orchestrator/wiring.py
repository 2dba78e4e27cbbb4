"""What the daemon is made of: a validated Setup, and the Parts built from it (not yet started).

`orchestrator.service` starts and stops these; keeping construction here leaves the service
about lifecycle only (signals, reload, shutdown), and lets tests build the parts directly.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from orchestrator.clock import SystemClock
from orchestrator.errors import ConfigError
from orchestrator.logs import event

log = logging.getLogger("orchestrator.service")

DEFAULT_LEASE_TTL = timedelta(seconds=15)


@dataclass(frozen=True)
class Setup:
    """A config and its playbooks, both validated clean."""

    config: Any
    playbooks: Mapping[str, Any]


def load_setup(path: Path, env: Mapping[str, str] | None = None) -> Setup:
    """The config (secrets required) and its playbooks, or ConfigError listing every problem."""
    from orchestrator.loader import read_config, validate_all

    report = validate_all(path, env=env)
    problems = list(report.errors)
    # validate_all only warns about unset ${SECRETS}; a daemon cannot run without them.
    config, source = read_config(path, env)
    problems += [p for p in source.problems if p.severity == "error" and p not in problems]
    if problems or config is None:
        raise ConfigError(problems)
    return Setup(config, report.playbooks)


@dataclass
class Parts:
    """What one Setup builds; a reload replaces all of it at once."""

    setup: Setup
    poller: Any
    incidents: Any
    runner: Any
    calendar: Any
    dispatcher: Any
    # The runner on the plain engine for the web's approve and trigger: any replica serves
    # the ops API, while `runner` (the timers') writes only under the leader's token.
    web_runner: Any = None
    dispatch_stop: asyncio.Event = field(default_factory=asyncio.Event)
    dispatch_task: asyncio.Task | None = None


def bind(listen: str) -> socket.socket:
    """A listening socket for `host:port` (port 0: any free port)."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
    except OSError:
        sock.close()
        raise
    return sock


def build_parts(setup: Setup, engine: Any, clock: Any, on_step: Any, *,
                timers_engine: Any = None, owner: str | None = None,
                on_observation: Any = None, on_send: Any = None) -> Parts:
    """Every part of the daemon for `setup`, constructed but not started.

    `timers_engine` (default: `engine`) carries the leader's timer writes: incidents, the
    runner and what its steps enqueue. The dispatcher and the web use the plain `engine`.
    """
    from orchestrator.dispatcher import Dispatcher, quiet_window
    from orchestrator.incidents import IncidentManager
    from orchestrator.playbook.ports import PostsCalendar
    from orchestrator.playbook.runner import Runner
    from orchestrator.poller import Poller

    config, playbooks = setup.config, setup.playbooks
    timers_engine = timers_engine if timers_engine is not None else engine
    triggers = {name: pb.trigger for name, pb in playbooks.items() if pb.trigger}
    labels = {name: config.platform_label(name) for name in config.platforms}
    runner = Runner.from_config(timers_engine, config, playbooks, clock=clock, actor="daemon")
    web_runner = runner if timers_engine is engine else Runner.from_config(
        engine, config, playbooks, clock=clock, actor="daemon")
    extra: dict[str, Any] = {"owner": owner} if owner else {}
    return Parts(
        setup=setup,
        poller=Poller.from_config(config, clock=clock, on_step=on_step,
                                  on_observation=on_observation),
        incidents=IncidentManager(timers_engine, triggers, labels=labels, clock=clock,
                                  actor="detector"),
        runner=runner,
        calendar=PostsCalendar(engine, config),
        # Row leases are compared across replicas: on the system clock, let the database's
        # own time decide; a test or demo clock is passed through.
        dispatcher=Dispatcher(engine, sending_channels(config), quiet=quiet_window(config),
                              clock=None if isinstance(clock, SystemClock) else clock.now,
                              on_send=on_send, **extra),
        web_runner=web_runner,
    )


def lease_ttl(config: Any) -> timedelta:
    """The leader lease's TTL: `cluster.lease_ttl` where the config has it, else 15 s."""
    ttl = getattr(getattr(config, "cluster", None), "lease_ttl", None)
    return ttl if isinstance(ttl, timedelta) and ttl > timedelta(0) else DEFAULT_LEASE_TTL


def ledger_counts(engine: Any) -> dict[str, int]:
    """Outbox rows left unsent, for the stop report."""
    from orchestrator.store.schema import outbox

    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state))
        by_state = dict(rows.all())
    return {"left_pending": by_state.get("pending", 0),
            "left_in_flight_rows": by_state.get("in_flight", 0)}


def sending_channels(config: Any, http: Any = None) -> dict[str, Any]:
    """Every enabled channel that can send; a calendar-only kind (no `send`) is left out."""
    from channels.registry import channel_class
    from orchestrator.delivery import build_channels

    senders = {name: cfg for name, cfg in config.channels.items()
               if cfg.enabled and callable(getattr(channel_class(cfg.kind), "send", None))}
    for name in sorted(set(config.channels) - set(senders)):
        if config.channels[name].enabled:
            event(log, "channel.calendar_only", logging.WARNING, channel=name,
                  reason=f"channel kind {config.channels[name].kind!r} cannot send yet: its "
                         "posts are paused and resumed but not published")
    return build_channels(config.model_copy(update={"channels": senders}), http=http)




def restart_only_changes(old: Any, new: Any) -> list[str]:
    """Settings a reload cannot apply to a running process."""
    out = []
    if old.storage != new.storage:
        out.append("storage")
    if old.http.listen != new.http.listen:
        out.append("http.listen")
    return out


def stored_platform_states(engine: Any) -> dict[str, tuple[str, Any]]:
    """platform → (state, since) as the store has them, to seed a new leader's detector."""
    from orchestrator.store.schema import platform_states
    with engine.connect() as conn:
        return {r.platform: (r.state, r.since) for r in conn.execute(
            select(platform_states.c.platform, platform_states.c.state,
                   platform_states.c.since))}
