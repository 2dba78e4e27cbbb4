"""Incidents: platform changes that match a playbook trigger open one incident per episode, durably.

An episode starts when a platform leaves `operational` and ends when it is back. Its start
time is kept in the `platform_states` row, written under a row lock, so every replica (and
a restarted process) derives the same incident key `platform:episode-start`; the incident
row is inserted with ON CONFLICT DO NOTHING on that key, so a repeated poll or a second
replica never opens a second one. Later changes append timeline events, recovery resolves,
and each of these is also written to the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, insert, select, update

from orchestrator.clock import Clock, SystemClock
from orchestrator.detector import PlatformChange
from orchestrator.store.engine import SQLITE_IMMEDIATE
from orchestrator.store.schema import audit_log, incident_events, incidents, platform_states
from orchestrator.store.sql import insert_ignore


class TriggerLike(Protocol):
    """What the incident manager needs of a playbook's trigger."""

    platforms: list[str]
    states: list[str]
    sustained_for: timedelta


@dataclass(frozen=True)
class Watch:
    """One platform's episode as the manager tracks it (pure data)."""

    state: str | None = None
    episode_start: datetime | None = None
    entered: Mapping[str, datetime] = field(default_factory=dict)  # playbook -> matching since
    fired: frozenset[str] = frozenset()                            # playbooks already matched


def matches(trigger: TriggerLike, platform: str, state: str | None) -> bool:
    """Whether `platform` in `state` satisfies the trigger (maintenance ignored by default)."""
    if state is None or platform not in trigger.platforms or state not in trigger.states:
        return False
    return not (state == "maintenance" and getattr(trigger, "ignore_maintenance", True))


def advance(watch: Watch, platform: str, state: str, at: datetime,
            episode_start: datetime | None, triggers: Mapping[str, TriggerLike]) -> Watch:
    """The watch after the platform moved to `state` at `at`."""
    if episode_start is None:  # back to operational: the episode is over
        return Watch(state)
    entered = {name: watch.entered.get(name, at) for name, trigger in triggers.items()
               if matches(trigger, platform, state)}
    fired = watch.fired if episode_start == watch.episode_start else frozenset()
    return Watch(state, episode_start, entered, fired)


def due(watch: Watch, now: datetime, triggers: Mapping[str, TriggerLike]) -> list[str]:
    """Playbooks whose trigger has been satisfied for its `sustained_for` and not yet fired."""
    return sorted(name for name, since in watch.entered.items()
                  if name not in watch.fired and now >= since + triggers[name].sustained_for)


@dataclass(frozen=True)
class IncidentOpened:
    incident_id: int
    key: str
    platform: str
    state: str
    started_at: datetime
    playbooks: tuple[str, ...]


@dataclass(frozen=True)
class TriggerMatched:
    """A further playbook's trigger became sustained for an incident already open."""

    incident_id: int
    platform: str
    playbooks: tuple[str, ...]


@dataclass(frozen=True)
class IncidentUpdated:
    incident_id: int
    platform: str
    old: str | None
    new: str
    at: datetime


@dataclass(frozen=True)
class IncidentResolved:
    incident_id: int
    platform: str
    at: datetime


IncidentAction = IncidentOpened | TriggerMatched | IncidentUpdated | IncidentResolved


class IncidentManager:
    """Turns detector changes into persisted incidents; returns what it did for the runner."""

    def __init__(self, engine: Engine, triggers: Mapping[str, TriggerLike], *,
                 labels: Mapping[str, str] | None = None, clock: Clock | None = None,
                 actor: str = "detector"):
        self.engine, self.triggers = engine, dict(triggers)
        self.labels, self.clock, self.actor = dict(labels or {}), clock or SystemClock(), actor
        self.watches: dict[str, Watch] = {}

    def load(self) -> None:
        """Rebuild the watches from the store after a restart (episodes and fired playbooks)."""
        with self.engine.connect() as conn:
            for row in conn.execute(select(platform_states)):
                start = _episode_start(row.detail)
                watch = advance(Watch(), row.platform, row.state, row.since, start, self.triggers)
                incident = find_open_incident(conn, row.platform)
                if incident is not None:
                    watch = replace(watch, fired=frozenset(matched_playbooks(conn, incident.id)))
                self.watches[row.platform] = watch

    def handle(self, change: PlatformChange, *, network_problem: bool = False) -> list[Any]:
        """Record a platform change; update or resolve its open incident; open one if due."""
        actions: list[Any] = []
        with transaction(self.engine) as conn:
            changed, start = record_platform_state(conn, change, self.actor)
            incident = find_open_incident(conn, change.platform)
            if changed and incident is not None:
                if change.new == "operational":
                    if resolve_incident(conn, incident.id, change.at, self.actor,
                                        f"{self._label(change.platform)} is operational again: "
                                        f"{change.reason}"):
                        actions.append(IncidentResolved(incident.id, change.platform, change.at))
                else:
                    append_event(conn, incident.id, "state_changed", change.at, self.actor,
                                 f"{change.old} -> {change.new}: {change.reason}",
                                 {"old": change.old, "new": change.new})
                    actions.append(IncidentUpdated(incident.id, change.platform, change.old,
                                                   change.new, change.at))
        watch = self.watches.get(change.platform, Watch())
        self.watches[change.platform] = advance(watch, change.platform, change.new, change.at,
                                                start, self.triggers)
        return actions + self.tick(change.at, network_problem=network_problem)

    def tick(self, now: datetime | None = None, *, network_problem: bool = False) -> list[Any]:
        """Open incidents (or add playbooks to open ones) whose triggers are now sustained."""
        if network_problem:
            return []  # our own network is down: nothing is started for customers
        now = now or self.clock.now()
        actions = []
        for platform, watch in list(self.watches.items()):
            names = due(watch, now, self.triggers)
            if names and watch.episode_start is not None:
                actions.extend(self._fire(platform, watch, names, now))
        return actions

    def _fire(self, platform: str, watch: Watch, names: list[str], now: datetime) -> list[Any]:
        key = incident_key(platform, watch.episode_start)
        with transaction(self.engine) as conn:
            incident = find_open_incident(conn, platform)
            if incident is None:
                title = f"{self._label(platform)}: {watch.state.replace('_', ' ')}"
                incident_id, created = open_incident(
                    conn, key, platform, title, watch.state, watch.episode_start, self.actor,
                    now, names)
                if incident_id is None:  # this episode's incident was resolved by hand
                    self.watches[platform] = replace(watch, fired=watch.fired | set(names))
                    return []
            else:
                incident_id, created = incident.id, False
            already = set(matched_playbooks(conn, incident_id))
            fresh = [n for n in names if n not in already]
            if fresh and not created:
                append_event(conn, incident_id, "trigger_matched", now, self.actor,
                             "trigger matched: " + ", ".join(fresh), {"playbooks": fresh})
        self.watches[platform] = replace(watch, fired=watch.fired | set(names))
        if created:
            return [IncidentOpened(incident_id, key, platform, watch.state, watch.episode_start,
                                   tuple(names))]
        return [TriggerMatched(incident_id, platform, tuple(fresh))] if fresh else []

    def _label(self, platform: str) -> str:
        return self.labels.get(platform, platform)


def _episode_start(detail: Any) -> datetime | None:
    value = (detail or {}).get("episode_started_at")
    return datetime.fromisoformat(value) if value else None


def open_incidents(engine: Engine) -> list[Any]:
    """Every open incident, oldest first."""
    with engine.connect() as conn:
        query = select(incidents).where(incidents.c.state == "open").order_by(incidents.c.id)
        return list(conn.execute(query))


# --- The store side: plain functions over a Connection, reusable by the CLI and the web. ---


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction (on SQLite, one that takes the write lock up front)."""
    with engine.connect() as conn:
        conn.execution_options(**{SQLITE_IMMEDIATE: True})
        with conn.begin():
            yield conn


def incident_key(platform: str, episode_start: datetime) -> str:
    """The idempotency key of a platform episode: every replica derives the same one."""
    return f"{platform}:{episode_start.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"


def record_platform_state(conn: Connection, change: PlatformChange,
                          actor: str) -> tuple[bool, datetime | None]:
    """Store the platform's new state; return (whether this call changed it, episode start).

    The row is locked while it is compared, so two replicas reporting the same change agree
    on one writer and on the episode start the first of them recorded.
    """
    start = None if change.new == "operational" else change.at
    values = {"platform": change.platform, "state": change.new, "since": change.at,
              "updated_at": change.at, "reason": change.reason, "detail": _episode(start)}
    if not insert_ignore(conn, platform_states, values, conflict_on=["platform"]):
        query = select(platform_states).where(platform_states.c.platform == change.platform)
        row = conn.execute(query.with_for_update()).one()
        if row.state == change.new:
            return False, _episode_start(row.detail)
        if start is not None and row.state != "operational":
            start = _episode_start(row.detail) or change.at  # same episode, new severity
        values["detail"] = _episode(start)
        conn.execute(update(platform_states)
                     .where(platform_states.c.platform == change.platform).values(values))
    _audit(conn, change.at, actor, "platform.state_changed", "platform", change.platform,
           {"old": change.old, "new": change.new, "reason": change.reason})
    return True, start


def _episode(start: datetime | None) -> dict[str, Any]:
    return {"episode_started_at": start.isoformat() if start else None}


def open_incident(conn: Connection, key: str, platform: str, title: str, state: str,
                  started_at: datetime, actor: str, now: datetime,
                  playbooks: list[str]) -> tuple[int | None, bool]:
    """Insert the incident for `key` unless it exists: (its id, whether this call created it).

    The id is None when the episode's incident exists but was already resolved.
    """
    created = insert_ignore(conn, incidents, {
        "key": key, "kind": "platform", "platform": platform, "title": title, "state": "open",
        "platform_state": state, "started_at": started_at, "created_by": actor,
        "detail": {"playbooks": playbooks}}, conflict_on=["key"])
    row = conn.execute(select(incidents.c.id, incidents.c.state)
                       .where(incidents.c.key == key)).one()
    if not created:
        return (row.id if row.state == "open" else None), False
    append_event(conn, row.id, "opened", now, actor,
                 f"{title} since {started_at.isoformat()}; trigger matched: "
                 + ", ".join(playbooks), {"playbooks": playbooks, "key": key})
    return row.id, True


def append_event(conn: Connection, incident_id: int, kind: str, at: datetime, actor: str,
                 message: str, detail: dict[str, Any] | None = None, *,
                 public: bool = False) -> None:
    """Add a timeline event to an incident, and the same fact to the audit log."""
    conn.execute(insert(incident_events).values(
        incident_id=incident_id, kind=kind, at=at, actor=actor, message=message,
        public=public, detail=detail))
    _audit(conn, at, actor, f"incident.{kind}", "incident", str(incident_id),
           {"message": message, **(detail or {})})


def resolve_incident(conn: Connection, incident_id: int, at: datetime, actor: str,
                     message: str) -> bool:
    """Resolve an open incident; False (and nothing written) when it was already resolved."""
    result = conn.execute(update(incidents)
                          .where(incidents.c.id == incident_id, incidents.c.state == "open")
                          .values(state="resolved", resolved_at=at))
    if result.rowcount != 1:
        return False
    append_event(conn, incident_id, "resolved", at, actor, message)
    return True


def find_open_incident(conn: Connection, platform: str) -> Any:
    """The platform's open incident row, or None."""
    return conn.execute(select(incidents)
                        .where(incidents.c.platform == platform, incidents.c.state == "open")
                        .order_by(incidents.c.id).limit(1)).first()


def matched_playbooks(conn: Connection, incident_id: int) -> list[str]:
    """Playbooks whose trigger has already matched this incident, from its timeline."""
    rows = conn.execute(select(incident_events.c.detail).where(
        incident_events.c.incident_id == incident_id,
        incident_events.c.kind.in_(("opened", "trigger_matched"))))
    return sorted({name for (detail,) in rows for name in (detail or {}).get("playbooks", [])})


def _audit(conn: Connection, at: datetime, actor: str, action: str, subject_type: str,
           subject_id: str, detail: dict[str, Any]) -> None:
    conn.execute(insert(audit_log).values(at=at, actor=actor, action=action,
                                          subject_type=subject_type, subject_id=subject_id,
                                          detail=detail))
