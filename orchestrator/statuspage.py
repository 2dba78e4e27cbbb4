"""The orchestrator's own public incident timeline: incident_events rows marked public.

Playbooks add entries with `status_page` steps and operators with `orchestrator incidents
update`; the HTML, JSON and Atom pages read `entries()`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from orchestrator.incidents import append_event
from orchestrator.store.schema import incident_events, incidents

STATUSES = ("investigating", "identified", "monitoring", "resolved")
KIND = "status"


def add_entry(conn: Connection, incident_id: int, message: str, status: str, at: datetime,
              actor: str, *, source: str | None = None) -> bool:
    """Append a public entry; with `source` (a run's step), at most once per source.

    Returns False when the source already wrote its entry (a step retried after a crash).
    """
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    if source is not None:
        existing = conn.execute(select(incident_events.c.detail).where(
            incident_events.c.incident_id == incident_id, incident_events.c.kind == KIND))
        if any((detail or {}).get("source") == source for (detail,) in existing):
            return False
    detail = {"status": status, **({"source": source} if source else {})}
    append_event(conn, incident_id, KIND, at, actor, message, detail, public=True)
    return True


def entries(conn: Connection, incident_id: int | None = None) -> list[dict[str, Any]]:
    """Public timeline entries (newest first), each with its incident's title and state."""
    query = (select(incident_events, incidents.c.title, incidents.c.state.label("incident_state"))
             .join(incidents, incidents.c.id == incident_events.c.incident_id)
             .where(incident_events.c.public.is_(True))
             .order_by(incident_events.c.at.desc(), incident_events.c.id.desc()))
    if incident_id is not None:
        query = query.where(incident_events.c.incident_id == incident_id)
    return [{
        "incident_id": r.incident_id, "incident_title": r.title,
        "incident_state": r.incident_state, "at": r.at, "message": r.message,
        "status": (r.detail or {}).get("status"), "kind": r.kind,
    } for r in conn.execute(query)]
