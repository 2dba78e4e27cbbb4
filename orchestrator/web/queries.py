"""Read-only queries behind the status page, the ops API, the dashboard and the SMS STATUS reply.

Rows come back as plain dicts with ISO 8601 times, ready for JSON and templates alike.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from orchestrator.store.schema import (
    incident_events,
    incidents,
    outbox,
    outbox_state,
    platform_states,
    playbook_runs,
    scheduled_posts,
    step_executions,
)

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def plain(row: Any) -> dict[str, Any]:
    """A row as a dict, datetimes as ISO 8601 strings."""
    return {key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in row._mapping.items()}


def clamp(limit: int | None) -> int:
    return max(1, min(limit or DEFAULT_LIMIT, MAX_LIMIT))


def platforms(conn: Connection) -> list[dict[str, Any]]:
    query = select(platform_states.c.platform, platform_states.c.state, platform_states.c.since,
                   platform_states.c.reason, platform_states.c.updated_at)
    return [plain(r) for r in conn.execute(query.order_by(platform_states.c.platform))]


def public_incidents(conn: Connection, now: datetime, days: int) -> list[dict[str, Any]]:
    """Open incidents and those resolved within `days`, that have at least one public event,
    newest first, each with its public timeline (newest update first)."""
    has_public = select(incident_events.c.id).where(
        incident_events.c.incident_id == incidents.c.id, incident_events.c.public.is_(True))
    query = (select(incidents)
             .where(or_(incidents.c.state == "open",
                        incidents.c.resolved_at >= now - timedelta(days=days)),
                    has_public.exists())
             .order_by(incidents.c.started_at.desc(), incidents.c.id.desc()).limit(50))
    found = [plain(r) for r in conn.execute(query)]
    events = _events(conn, [i["id"] for i in found], public_only=True)
    for incident in found:
        incident["updates"] = list(reversed(events.get(incident["id"], [])))
    return found


def _events(conn: Connection, ids: list[int], *, public_only: bool) -> dict[int, list[dict]]:
    if not ids:
        return {}
    query = select(incident_events.c.id, incident_events.c.incident_id, incident_events.c.at,
                   incident_events.c.kind, incident_events.c.message, incident_events.c.public,
                   incident_events.c.actor, incident_events.c.detail
                   ).where(incident_events.c.incident_id.in_(ids))
    if public_only:
        query = query.where(incident_events.c.public.is_(True))
    grouped: dict[int, list[dict]] = defaultdict(list)
    for row in conn.execute(query.order_by(incident_events.c.at, incident_events.c.id)):
        grouped[row.incident_id].append(plain(row))
    return grouped


def latest_public_update(conn: Connection, now: datetime, days: int) -> dict[str, Any] | None:
    """The newest public event, preferring open incidents over recently resolved ones."""
    base = (select(incident_events.c.message, incident_events.c.at, incidents.c.title,
                   incidents.c.state)
            .join(incidents, incidents.c.id == incident_events.c.incident_id)
            .where(incident_events.c.public.is_(True))
            .order_by(incident_events.c.at.desc(), incident_events.c.id.desc()).limit(1))
    row = conn.execute(base.where(incidents.c.state == "open")).first()
    if row is None:
        row = conn.execute(base.where(incidents.c.resolved_at >= now - timedelta(days=days))
                           ).first()
    return plain(row) if row is not None else None


def list_incidents(conn: Connection, state: str | None, limit: int | None) -> list[dict]:
    query = select(incidents).order_by(incidents.c.id.desc()).limit(clamp(limit))
    if state:
        query = query.where(incidents.c.state == state)
    return [plain(r) for r in conn.execute(query)]


def incident(conn: Connection, incident_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
    if row is None:
        return None
    found = plain(row)
    found["timeline"] = _events(conn, [incident_id], public_only=False).get(incident_id, [])
    return found


def list_runs(conn: Connection, state: str | None, limit: int | None) -> list[dict]:
    query = select(playbook_runs).order_by(playbook_runs.c.id.desc()).limit(clamp(limit))
    if state:
        query = query.where(playbook_runs.c.state == state)
    return [plain(r) for r in conn.execute(query)]


def run(conn: Connection, run_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(playbook_runs).where(playbook_runs.c.id == run_id)).first()
    if row is None:
        return None
    found = plain(row)
    steps = select(step_executions).where(step_executions.c.run_id == run_id).order_by(
        step_executions.c.phase, step_executions.c.iteration, step_executions.c.step_index)
    found["steps"] = [plain(r) for r in conn.execute(steps)]
    return found


def pending_approvals(conn: Connection) -> list[dict[str, Any]]:
    """Runs waiting for a person, with their incident's title and the waiting step."""
    query = (select(playbook_runs.c.id, playbook_runs.c.playbook, playbook_runs.c.incident_id,
                    incidents.c.title, step_executions.c.started_at.label("waiting_since"),
                    step_executions.c.reason)
             .join(incidents, incidents.c.id == playbook_runs.c.incident_id)
             .outerjoin(step_executions, and_(step_executions.c.run_id == playbook_runs.c.id,
                                              step_executions.c.state == "waiting"))
             .where(playbook_runs.c.state == "waiting_approval")
             .order_by(playbook_runs.c.id))
    return [plain(r) for r in conn.execute(query)]


def list_posts(conn: Connection, state: str | None, limit: int | None) -> list[dict]:
    query = select(scheduled_posts).order_by(scheduled_posts.c.publish_at,
                                             scheduled_posts.c.id).limit(clamp(limit))
    if state:
        query = query.where(scheduled_posts.c.state == state)
    return [plain(r) for r in conn.execute(query)]


def list_outbox(conn: Connection, state: str | None, channel: str | None,
                limit: int | None) -> list[dict]:
    columns = [c for c in outbox.c if c.name not in ("payload", "lease_token")]
    query = select(*columns).order_by(outbox.c.id.desc()).limit(clamp(limit))
    if state:
        query = query.where(outbox.c.state == state)
    if channel:
        query = query.where(outbox.c.channel == channel)
    return [plain(r) for r in conn.execute(query)]


def outbox_counts(conn: Connection) -> list[dict[str, Any]]:
    """Messages per (channel, state)."""
    query = (select(outbox.c.channel, outbox.c.state, func.count().label("count"))
             .group_by(outbox.c.channel, outbox.c.state)
             .order_by(outbox.c.channel, outbox.c.state))
    return [plain(r) for r in conn.execute(query)]


def incident_counts(conn: Connection) -> dict[str, int]:
    query = select(incidents.c.state, func.count()).group_by(incidents.c.state)
    return {state: count for state, count in conn.execute(query)}


def queue_depth(conn: Connection, now: datetime) -> int:
    """Rows a dispatcher could claim now (pending and due) plus those in flight."""
    due = or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now)
    query = select(func.count()).where(or_(and_(outbox_state("pending"), due),
                                           outbox_state("in_flight")))
    return int(conn.execute(query).scalar_one())
