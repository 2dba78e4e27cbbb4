"""Incidents on SQLite and PostgreSQL: one per episode, timeline, audit, racing replicas."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from orchestrator.detector import PlatformChange
from orchestrator.incidents import (
    IncidentManager,
    IncidentOpened,
    IncidentResolved,
    IncidentUpdated,
    TriggerMatched,
    Watch,
    advance,
    due,
    incident_key,
    matches,
)
from orchestrator.playbook.model import Trigger
from orchestrator.store.engine import make_engine
from orchestrator.store.schema import audit_log, incident_events, incidents
from tests.dbfixtures import db_url, engine, postgres_url_factory  # noqa: F401

T0 = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)
META = Trigger(platforms=["facebook", "instagram"], sustained_for=timedelta(minutes=3))
META_LATE = Trigger(platforms=["facebook"], states=["major_outage"],
                    sustained_for=timedelta(minutes=10))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def change(old, new, minutes, platform="facebook") -> PlatformChange:
    return PlatformChange(platform, old, new, at(minutes), f"test: {old} -> {new}")


def rows(eng, table, **where):
    query = select(table).order_by(table.c.id)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with eng.connect() as conn:
        return list(conn.execute(query))


# --- Pure parts ---

def test_matches_respects_platforms_states_and_maintenance():
    assert matches(META, "facebook", "major_outage")
    assert not matches(META, "facebook", "degraded")
    assert not matches(META, "x", "major_outage")
    with_maintenance = Trigger(platforms=["x"], states=["maintenance"])
    assert not matches(with_maintenance, "x", "maintenance")   # ignore_maintenance by default
    assert matches(Trigger(platforms=["x"], states=["maintenance"], ignore_maintenance=False),
                   "x", "maintenance")


def test_due_waits_for_sustained_for_across_matching_states():
    triggers = {"meta": META}
    watch = advance(Watch(), "facebook", "partial_outage", at(0), at(0), triggers)
    watch = advance(watch, "facebook", "major_outage", at(2), at(0), triggers)
    assert due(watch, at(2.9), triggers) == []
    assert due(watch, at(3), triggers) == ["meta"]      # counted from the first matching state
    assert advance(watch, "facebook", "operational", at(4), None, triggers) == Watch(
        "operational")


def test_incident_key_is_stable_utc():
    local = datetime(2026, 11, 22, 14, 0, tzinfo=UTC).astimezone()
    assert incident_key("facebook", local) == "facebook:2026-11-22T14:00:00.000000Z"


# --- Store-backed, on both databases ---

def test_outage_opens_one_incident_updates_and_resolves(engine):  # noqa: F811
    manager = IncidentManager(engine, {"meta-outage": META}, labels={"facebook": "Facebook"})
    assert manager.handle(change(None, "operational", 0)) == []
    assert manager.handle(change("operational", "partial_outage", 10)) == []
    assert manager.tick(at(12)) == []                     # not sustained for 3m yet
    opened = manager.tick(at(13))
    assert opened == [IncidentOpened(opened[0].incident_id, "facebook:2026-11-22T13:10:00.000000Z",
                                     "facebook", "partial_outage", at(10), ("meta-outage",))]
    assert manager.tick(at(14)) == []                     # a repeated tick opens nothing
    incident_id = opened[0].incident_id
    assert manager.handle(change("partial_outage", "major_outage", 20)) == [
        IncidentUpdated(incident_id, "facebook", "partial_outage", "major_outage", at(20))]
    assert manager.handle(change("major_outage", "operational", 50)) == [
        IncidentResolved(incident_id, "facebook", at(50))]

    [incident] = rows(engine, incidents)
    assert (incident.title, incident.state, incident.started_at, incident.resolved_at) == (
        "Facebook: partial outage", "resolved", at(10), at(50))
    events = rows(engine, incident_events, incident_id=incident_id)
    assert [(e.kind, e.at) for e in events] == [
        ("opened", at(13)), ("state_changed", at(20)), ("resolved", at(50))]
    assert events[0].message == ("Facebook: partial outage since 2026-11-22T13:10:00+00:00; "
                                 "trigger matched: meta-outage")
    assert events[2].message == ("Facebook is operational again: test: major_outage -> "
                                 "operational")
    actions = [a.action for a in rows(engine, audit_log)]
    assert actions == ["platform.state_changed"] * 2 + ["incident.opened"] + [
        "platform.state_changed", "incident.state_changed"] + [
        "platform.state_changed", "incident.resolved"]


def test_a_new_episode_is_a_new_incident(engine):  # noqa: F811
    manager = IncidentManager(engine, {"meta": Trigger(platforms=["facebook"])})
    for start in (0, 60):
        manager.handle(change("operational", "major_outage", start))
        manager.handle(change("major_outage", "operational", start + 30))
    keys = [r.key for r in rows(engine, incidents)]
    assert keys == ["facebook:2026-11-22T13:00:00.000000Z", "facebook:2026-11-22T14:00:00.000000Z"]


def test_flap_shorter_than_sustained_for_opens_nothing(engine):  # noqa: F811
    manager = IncidentManager(engine, {"meta": META})
    manager.handle(change("operational", "major_outage", 0))
    manager.handle(change("major_outage", "operational", 2))
    assert manager.tick(at(10)) == [] and rows(engine, incidents) == []


def test_local_network_problem_opens_nothing(engine):  # noqa: F811
    manager = IncidentManager(engine, {"meta": Trigger(platforms=["facebook"])})
    assert manager.handle(change("operational", "major_outage", 0), network_problem=True) == []
    assert rows(engine, incidents) == []
    assert [type(a) for a in manager.tick(at(1))] == [IncidentOpened]


def test_a_later_trigger_joins_the_open_incident(engine):  # noqa: F811
    manager = IncidentManager(engine, {"meta": META, "meta-long": META_LATE})
    manager.handle(change("operational", "major_outage", 0))
    [opened] = manager.tick(at(3))
    assert opened.playbooks == ("meta",)
    assert manager.tick(at(10)) == [TriggerMatched(opened.incident_id, "facebook", ("meta-long",))]
    assert manager.tick(at(11)) == []
    kinds = [e.kind for e in rows(engine, incident_events)]
    assert kinds == ["opened", "trigger_matched"]


def test_restart_neither_reopens_nor_repeats(engine):  # noqa: F811
    first = IncidentManager(engine, {"meta": META})
    first.handle(change("operational", "major_outage", 0))
    [opened] = first.tick(at(3))
    # A new process: its detector starts from scratch and reports the outage as new.
    second = IncidentManager(engine, {"meta": META})
    second.load()
    assert second.handle(change(None, "major_outage", 30)) == []
    assert second.tick(at(40)) == []
    assert [r.id for r in rows(engine, incidents)] == [opened.incident_id]
    assert [e.kind for e in rows(engine, incident_events)] == ["opened"]
    assert second.handle(change("major_outage", "operational", 45))[0].incident_id == \
        opened.incident_id


def test_two_replicas_racing_open_one_incident(engine, db_url):  # noqa: F811
    other = make_engine(db_url)
    try:
        managers = [IncidentManager(e, {"meta": Trigger(platforms=["facebook", "instagram"])},
                                    actor=f"replica-{i}") for i, e in enumerate((engine, other))]
        results: list[list] = [[], []]
        for round_ in range(8):
            platform = ("facebook", "instagram")[round_ % 2]
            barrier = threading.Barrier(2)
            down = change("operational", "major_outage", round_ * 60, platform)
            up = change("major_outage", "operational", round_ * 60 + 30, platform)

            def replica(i: int, down=down, up=up, barrier=barrier) -> None:
                barrier.wait()
                results[i].extend(managers[i].handle(down))
                barrier.wait()
                results[i].extend(managers[i].handle(up))

            threads = [threading.Thread(target=replica, args=(i,)) for i in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
        opened = [a for r in results for a in r if isinstance(a, IncidentOpened)]
        resolved = [a for r in results for a in r if isinstance(a, IncidentResolved)]
        assert len(opened) == len(resolved) == 8
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(incidents)).scalar() == 8
            per_incident = conn.execute(
                select(incident_events.c.incident_id, func.count())
                .group_by(incident_events.c.incident_id)).all()
            opened_audits = conn.execute(select(func.count()).select_from(audit_log)
                                         .where(audit_log.c.action == "incident.opened")).scalar()
        assert sorted(n for _, n in per_incident) == [2] * 8   # opened + resolved, once each
        assert opened_audits == 8
    finally:
        other.dispose()


@pytest.mark.parametrize("state", ["degraded", "maintenance"])
def test_states_outside_the_trigger_open_nothing(engine, state):  # noqa: F811
    manager = IncidentManager(engine, {"meta": META})
    manager.handle(change("operational", state, 0))
    assert manager.tick(at(30)) == [] and rows(engine, incidents) == []
