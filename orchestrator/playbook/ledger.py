"""The runner's durable record: playbook_runs and step_executions rows, claimed under leases.

A step is claimed by inserting its row as `running` (INSERT ... ON CONFLICT DO NOTHING on
run, phase, iteration and index), so of two runners only one executes it. Its
`started_at` doubles as a lease: a `running` row older than STEP_LEASE belongs to a process
that died, and is taken over by compare-and-set on that timestamp. A finished row (`done`,
`failed`, `skipped`) is never executed again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from orchestrator.incidents import append_event
from orchestrator.store.schema import audit_log, incident_events, incidents, playbook_runs
from orchestrator.store.schema import step_executions as steps
from orchestrator.store.sql import insert_ignore

STEP_LEASE = timedelta(minutes=5)
FINISHED = frozenset({"done", "failed", "skipped"})
CADENCE = ("every", 0, 0)   # the `every` phase's own row: iterations count from 1


def create_run(conn: Connection, incident_id: int, playbook: str, variables: dict[str, Any],
               now: datetime) -> tuple[int, bool]:
    """The run of `playbook` for the incident: (id, whether this call created it)."""
    created = insert_ignore(conn, playbook_runs, {
        "incident_id": incident_id, "playbook": playbook, "state": "running",
        "started_at": now, "vars": variables, "update_count": 0,
    }, conflict_on=["incident_id", "playbook"])
    run_id = conn.execute(select(playbook_runs.c.id).where(
        playbook_runs.c.incident_id == incident_id,
        playbook_runs.c.playbook == playbook)).scalar_one()
    return run_id, created


def get_run(conn: Connection, run_id: int) -> Any:
    return conn.execute(select(playbook_runs).where(playbook_runs.c.id == run_id)).first()


def get_incident(conn: Connection, incident_id: int) -> Any:
    return conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()


def operator_updates(conn: Connection, incident_id: int) -> list[Any]:
    """The incident's `update` events (from `orchestrator incidents update`), oldest first."""
    return list(conn.execute(select(incident_events).where(
        incident_events.c.incident_id == incident_id, incident_events.c.kind == "update")
        .order_by(incident_events.c.at, incident_events.c.id)))


def unfinished_runs(conn: Connection, incident_id: int | None = None) -> list[int]:
    query = select(playbook_runs.c.id).where(playbook_runs.c.finished_at.is_(None))
    if incident_id is not None:
        query = query.where(playbook_runs.c.incident_id == incident_id)
    return list(conn.execute(query.order_by(playbook_runs.c.id)).scalars())


def covering_run(conn: Connection, incident_id: int, playbook: str,
                 platforms: list[str]) -> tuple[int, int] | None:
    """An unfinished run of `playbook` for another open incident on one of `platforms`,
    as (run_id, its incident_id): when Facebook and Instagram fall together, customers
    hear one Meta story, not two."""
    row = conn.execute(
        select(playbook_runs.c.id, playbook_runs.c.incident_id)
        .join(incidents, incidents.c.id == playbook_runs.c.incident_id)
        .where(playbook_runs.c.playbook == playbook, playbook_runs.c.finished_at.is_(None),
               playbook_runs.c.incident_id != incident_id, incidents.c.state == "open",
               incidents.c.platform.in_(platforms))
        .order_by(playbook_runs.c.id)).first()
    return (row.id, row.incident_id) if row else None


def has_run(conn: Connection, incident_id: int, playbook: str) -> bool:
    return conn.execute(select(playbook_runs.c.id).where(
        playbook_runs.c.incident_id == incident_id,
        playbook_runs.c.playbook == playbook)).first() is not None


def step_rows(conn: Connection, run_id: int) -> dict[tuple[str, int, int], Any]:
    """Every step row of a run by (phase, iteration, index)."""
    rows = conn.execute(select(steps).where(steps.c.run_id == run_id))
    return {(r.phase, r.iteration, r.step_index): r for r in rows}


def claim(conn: Connection, run_id: int, where: tuple[str, int, int], kind: str,
          now: datetime) -> tuple[str, Any]:
    """Take a step for execution: ("claimed", row), or (its state, row) when someone has it."""
    phase, iteration, index = where
    values = {"run_id": run_id, "phase": phase, "iteration": iteration, "step_index": index,
              "kind": kind, "state": "running", "started_at": now}
    inserted = insert_ignore(conn, steps, values,
                             conflict_on=["run_id", "phase", "iteration", "step_index"])
    row = _row(conn, run_id, where)
    if inserted:
        return "claimed", row
    if row.state == "running" and (row.started_at is None or row.started_at + STEP_LEASE <= now):
        taken = conn.execute(update(steps).where(
            steps.c.id == row.id, steps.c.state == "running",
            _same(steps.c.started_at, row.started_at)).values(started_at=now))
        if taken.rowcount == 1:
            return "claimed", _row(conn, run_id, where)
        return "busy", row
    return ("busy" if row.state == "running" else row.state), row


def _same(column, value):
    return column.is_(None) if value is None else column == value


def _row(conn: Connection, run_id: int, where: tuple[str, int, int]) -> Any:
    phase, iteration, index = where
    return conn.execute(select(steps).where(
        steps.c.run_id == run_id, steps.c.phase == phase, steps.c.iteration == iteration,
        steps.c.step_index == index)).one()


def finish(conn: Connection, row_id: int, state: str, reason: str | None,
           detail: dict[str, Any] | None, now: datetime, *, expect: str = "running") -> bool:
    """Record a step's outcome if it is still in `expect`; False when someone else moved it."""
    values: dict[str, Any] = {"state": state, "reason": reason, "detail": detail}
    if state in FINISHED:
        values["finished_at"] = now
    result = conn.execute(update(steps).where(steps.c.id == row_id, steps.c.state == expect)
                          .values(**values))
    return result.rowcount == 1


def record(conn: Connection, run_id: int, where: tuple[str, int, int], kind: str, state: str,
           reason: str, now: datetime, detail: dict[str, Any] | None = None) -> bool:
    """Write a step's outcome without executing it (a skip); False if it has a row already."""
    phase, iteration, index = where
    return insert_ignore(conn, steps, {
        "run_id": run_id, "phase": phase, "iteration": iteration, "step_index": index,
        "kind": kind, "state": state, "reason": reason, "detail": detail,
        "started_at": now, "finished_at": now if state in FINISHED else None,
    }, conflict_on=["run_id", "phase", "iteration", "step_index"])


def set_run(conn: Connection, run_id: int, **values: Any) -> None:
    conn.execute(update(playbook_runs).where(playbook_runs.c.id == run_id).values(**values))


def advance_count(conn: Connection, run_id: int, done: int, next_at: datetime | None) -> bool:
    """Count update `done` as sent and set the next due time, once (compare-and-set)."""
    result = conn.execute(update(playbook_runs).where(
        playbook_runs.c.id == run_id, playbook_runs.c.update_count == done - 1)
        .values(update_count=done, next_update_at=next_at))
    return result.rowcount == 1


def finish_run(conn: Connection, run_id: int, state: str, now: datetime, actor: str,
               message: str) -> bool:
    """End a run (completed, failed or aborted) once, with a timeline event and audit."""
    result = conn.execute(update(playbook_runs).where(
        playbook_runs.c.id == run_id, playbook_runs.c.finished_at.is_(None))
        .values(state=state, finished_at=now, next_update_at=None))
    if result.rowcount != 1:
        return False
    run = get_run(conn, run_id)
    append_event(conn, run.incident_id, f"run_{state}", now, actor, message,
                 {"run_id": run_id, "playbook": run.playbook})
    return True


def audit(conn: Connection, now: datetime, actor: str, action: str, run_id: int,
          detail: dict[str, Any]) -> None:
    conn.execute(insert(audit_log).values(at=now, actor=actor, action=action,
                                          subject_type="run", subject_id=str(run_id),
                                          detail=detail))
