"""Builds the plain-data context templates render on: incident, platform, run, channel, vars."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from channels.registry import channel_class

# States in which a platform counts as down: nothing is sent through a channel that needs it.
# `degraded` and `unknown` (a dead status page) are not outages of the platform itself.
DOWN_STATES = frozenset({"partial_outage", "major_outage"})


@dataclass(frozen=True)
class IncidentFacts:
    """What the context needs of an incident row and its timeline (plain data)."""

    id: int | None
    title: str
    kind: str
    state: str
    platform: str | None
    platform_state: str | None
    started_at: datetime
    resolved_at: datetime | None = None
    update_count: int = 0
    last_update: str | None = None


def down_platforms(states: Mapping[str, str | None],
                   incident: IncidentFacts | None = None) -> dict[str, str]:
    """Platforms that are down now (name -> state), counting an open incident's own platform.

    A manual incident raised for a platform (`trigger --platform facebook`) says the
    platform is down even when no monitor has noticed yet.
    """
    down = {name: state for name, state in states.items() if state in DOWN_STATES}
    if incident is not None and incident.platform and incident.state == "open":
        down.setdefault(incident.platform, incident.platform_state
                        if incident.platform_state in DOWN_STATES else "major_outage")
    return down


def unusable_reason(config: Any, name: str, down: Mapping[str, str]) -> str | None:
    """Why channel `name` cannot be used now, or None when it can."""
    channel = config.channels.get(name)
    if channel is None:
        return f"channel {name!r} is not configured"
    if not channel.enabled:
        return f"channel {name!r} is disabled in the config"
    broken = [p for p in channel.depends_on if p in down]
    if broken:
        states = ", ".join(f"{p} is {down[p].replace('_', ' ')}" for p in broken)
        return f"channel {name!r} depends on a platform that is down ({states})"
    return None


def broadcast_channels(config: Any) -> list[str]:
    """Every enabled channel that can publish a post, in config order."""
    return [name for name, c in config.channels.items()
            if c.enabled and channel_class(c.kind).capabilities.broadcast]


def surviving_channels(config: Any, down: Mapping[str, str]) -> list[str]:
    """Enabled broadcast channels none of whose platforms is down."""
    return [n for n in broadcast_channels(config) if unusable_reason(config, n, down) is None]


def incident_data(incident: IncidentFacts, now: datetime, public_url: str | None) -> dict:
    end = incident.resolved_at or now
    url = (f"{public_url.rstrip('/')}/incidents/{incident.id}"
           if public_url and incident.id is not None else None)
    return {
        "id": incident.id, "title": incident.title, "kind": incident.kind,
        "state": incident.state, "started_at": incident.started_at,
        "resolved_at": incident.resolved_at,
        "duration": max(end - incident.started_at, timedelta(0)),
        "url": url, "platform": incident.platform or "",
        "update_count": incident.update_count, "last_update": incident.last_update,
    }


def platform_data(config: Any, name: str | None, state: str | None) -> dict:
    platform = config.platforms.get(name) if name else None
    return {
        "name": name or "",
        "display_name": config.platform_label(name) if name else "",
        "family": platform.family if platform is not None else None,
        "state": state,
    }


def run_data(run_id: int | None, playbook: str, update_number: int,
             started_at: datetime) -> dict:
    return {"id": run_id, "playbook": playbook, "update_number": update_number,
            "started_at": started_at}


def build_context(config: Any, *, incident: IncidentFacts, run: Mapping[str, Any],
                  variables: Mapping[str, Any], states: Mapping[str, str | None],
                  now: datetime) -> dict[str, Any]:
    """The whole context of a step, except `channel` (see `with_channel`)."""
    down = down_platforms(states, incident)
    platform_state = states.get(incident.platform) if incident.platform else None
    if incident.platform and incident.platform in down and platform_state not in DOWN_STATES:
        platform_state = down[incident.platform]
    public_url = config.http.public_url if config.http else None
    return {
        "incident": incident_data(incident, now, public_url),
        "platform": platform_data(config, incident.platform, platform_state),
        "run": dict(run),
        "channel": {"name": "", "kind": ""},
        "surviving": surviving_channels(config, down),
        "down": sorted(down),
        "vars": dict(variables),
        "now": now,
    }


def with_channel(context: Mapping[str, Any], config: Any, name: str) -> dict[str, Any]:
    """The context as seen while rendering for channel `name`."""
    channel = config.channels.get(name)
    return {**context, "channel": {"name": name, "kind": channel.kind if channel else ""}}


def merge_vars(declared: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The playbook's vars overridden by `given`; ValueError naming unknown or missing ones."""
    from orchestrator.problems import suggest

    unknown = [k for k in given if k not in declared]
    if unknown:
        hints = "".join(suggest(k, declared) for k in unknown)
        raise ValueError(f"unknown var{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))}: the playbook declares "
                         f"{', '.join(declared) or 'none'}.{hints}".rstrip("."))
    merged = {**declared, **given}
    missing = [k for k, v in merged.items() if v is None]
    if missing:
        raise ValueError("required var" + ("s" if len(missing) > 1 else "") + " not given: "
                         + ", ".join(missing) + " (use "
                         + " ".join(f"--var {k}=..." for k in missing) + ")")
    return merged


def names(values: Iterable[str]) -> str:
    return ", ".join(values) or "none"
