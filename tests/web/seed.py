"""Rows for web tests: incidents with timelines, runs held at an approval, outbox, posts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select

from orchestrator.incidents import append_event, transaction
from orchestrator.store.schema import (
    incidents,
    metadata,
    outbox,
    platform_states,
    playbook_runs,
    scheduled_posts,
    step_executions,
)


def incident(engine: Engine, at: datetime, title: str, *, platform: str | None = "facebook",
             state: str = "open", public: list[str] = (), private: list[str] = (),
             resolved_at: datetime | None = None, platform_state: str = "major_outage") -> int:
    """An incident with public updates a minute apart, then private events."""
    with transaction(engine) as conn:
        incident_id = conn.execute(insert(incidents).values(
            key=f"{title}:{at.isoformat()}", kind="platform" if platform else "manual",
            platform=platform, title=title, state=state, platform_state=platform_state,
            started_at=at, resolved_at=resolved_at).returning(incidents.c.id)).scalar_one()
        for i, message in enumerate(public):
            append_event(conn, incident_id, "status_page", at + timedelta(minutes=i + 1),
                         "runner", message, {"status": "identified"} if i else None,
                         public=True)
        for message in private:
            append_event(conn, incident_id, "state_changed", at, "detector", message)
    return incident_id


def waiting_run(engine: Engine, incident_id: int, at: datetime,
                playbook: str = "meta-outage") -> int:
    """A run held at its second on_start step, an approval."""
    with transaction(engine) as conn:
        run_id = conn.execute(insert(playbook_runs).values(
            incident_id=incident_id, playbook=playbook, state="waiting_approval",
            started_at=at).returning(playbook_runs.c.id)).scalar_one()
        conn.execute(insert(step_executions), [
            {"run_id": run_id, "phase": "on_start", "iteration": 0, "step_index": 0,
             "kind": "pause_posts", "state": "done", "started_at": at, "finished_at": at,
             "reason": None},
            {"run_id": run_id, "phase": "on_start", "iteration": 0, "step_index": 1,
             "kind": "approval", "state": "waiting", "started_at": at, "finished_at": None,
             "reason": "legal must approve the SMS"},
        ])
    return run_id


def outbox_row(engine: Engine, key: str, channel: str, recipient: str, *, state: str = "sent",
               provider_id: str | None = None) -> int:
    with transaction(engine) as conn:
        return conn.execute(insert(outbox).values(
            idempotency_key=key, channel=channel, recipient=recipient, body="hello",
            state=state, provider_id=provider_id).returning(outbox.c.id)).scalar_one()


def platform(engine: Engine, name: str, state: str, at: datetime) -> None:
    with transaction(engine) as conn:
        conn.execute(insert(platform_states).values(platform=name, state=state, since=at,
                                                    updated_at=at, reason="seeded"))


def post(engine: Engine, channel: str, text: str, at: datetime, *, state: str = "paused",
         reason: str | None = "facebook outage") -> int:
    with transaction(engine) as conn:
        return conn.execute(insert(scheduled_posts).values(
            channel=channel, text=text, publish_at=at, state=state, paused_by="runner",
            pause_reason=reason).returning(scheduled_posts.c.id)).scalar_one()


def snapshot(engine: Engine) -> dict[str, list[Any]]:
    """Every row of every table, to show that a refused request changed nothing."""
    with engine.connect() as conn:
        return {table.name: [tuple(r) for r in conn.execute(
            select(table).order_by(*table.primary_key.columns))]
            for table in metadata.sorted_tables}


DRILL = """\
name: drill
description: A drill that needs a person's go-ahead before it says anything in public
templates:
  note: "We are investigating reports of <trouble> & delays."
on_start:
  - approval: {message: "Publish the first note?", timeout: 30m, on_timeout: abort}
  - status_page: {template: note, status: identified}
"""


def drill_runner(engine: Engine, config: Any, clock: Any, folder: Any) -> Any:
    """The real runner with in-memory outbox, calendar and audiences, and the drill playbook."""
    from orchestrator.loader import load_playbook
    from orchestrator.outbox import MemoryOutbox
    from orchestrator.playbook.ports import MemoryAudiences, MemoryCalendar
    from orchestrator.playbook.runner import Runner

    path = folder / "drill.yaml"
    path.write_text(DRILL)
    playbook = load_playbook(path, config)
    return Runner(engine, config, {"drill": playbook}, outbox=MemoryOutbox(),
                  calendar=MemoryCalendar([]), audiences=MemoryAudiences({}), clock=clock)
