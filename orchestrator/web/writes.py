"""The few writes the web layer makes itself: suppressions, delivery receipts, approvals.

Each is one short transaction with an audit row. `approve_run` is a stand-in for the
runner's `approve(run_id, by)` for when no runner is wired (tests, a read-only replica):
it releases the waiting approval step and sets the run running again, which is what the
runner looks for when it resumes a run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from orchestrator.incidents import transaction
from orchestrator.store.schema import (
    audit_log,
    outbox,
    playbook_runs,
    step_executions,
    suppressions,
)
from orchestrator.store.sql import insert_ignore


def audit(conn: Connection, at: datetime, actor: str, action: str, subject_type: str,
          subject_id: str, detail: dict[str, Any] | None = None) -> None:
    conn.execute(insert(audit_log).values(at=at, actor=actor, action=action,
                                          subject_type=subject_type, subject_id=subject_id,
                                          detail=detail))


def canonical(kind: str, address: str) -> str:
    """The address as contact imports store it (E.164; normalized email), so a suppression
    matches the contact; an address that does not parse is kept as given."""
    from orchestrator.audiences import normalize_email, normalize_phone
    try:
        return normalize_phone(address) if kind == "sms" else normalize_email(address)
    except ValueError:
        return address


def suppress(engine: Engine, kind: str, address: str, reason: str, source: str,
             at: datetime) -> bool:
    """Add `address` to the suppression list; True when it was not there yet."""
    address = canonical(kind, address)
    with transaction(engine) as conn:
        added = insert_ignore(conn, suppressions, {
            "address_kind": kind, "address": address, "reason": reason, "source": source,
            "created_at": at})
        if added:
            audit(conn, at, source, "suppression.added", kind, address, {"reason": reason})
    return added


def unsuppress(engine: Engine, kind: str, address: str, source: str, at: datetime) -> bool:
    """Remove `address` from the suppression list (a START reply); True when it was there."""
    address = canonical(kind, address)
    with transaction(engine) as conn:
        removed = conn.execute(delete(suppressions).where(
            suppressions.c.address_kind == kind, suppressions.c.address == address)).rowcount
        if removed:
            audit(conn, at, source, "suppression.removed", kind, address)
    return bool(removed)


def record_receipt(engine: Engine, *, provider_id: str | None = None,
                   idempotency_key: str | None = None, failed: bool, error: str | None,
                   at: datetime) -> int | None:
    """Apply a provider's delivery receipt to its outbox row; the row's id, or None.

    A failure marks the row failed with the provider's reason. A success only confirms a
    row already sent or unknown (a receipt never resurrects a row that failed for good).
    """
    if provider_id is None and idempotency_key is None:
        return None
    where = (outbox.c.provider_id == provider_id if provider_id is not None
             else outbox.c.idempotency_key == idempotency_key)
    with transaction(engine) as conn:
        row = conn.execute(select(outbox.c.id, outbox.c.state).where(where).limit(1)).first()
        if row is None:
            return None
        if failed:
            values: dict[str, Any] = {"state": "failed", "last_error": error, "updated_at": at}
        elif row.state in ("sent", "unknown"):
            values = {"state": "sent", "updated_at": at}
        else:
            return row.id
        conn.execute(update(outbox).where(outbox.c.id == row.id).values(values))
    return row.id


class NoSuchRun(LookupError):
    """There is no run with that id."""


class NotWaiting(ValueError):
    """The run exists but is not waiting for an approval."""


def approve_run(engine: Engine, run_id: int, by: str, at: datetime) -> dict[str, Any]:
    """Release a run held by an approval step; NoSuchRun or NotWaiting when there is none."""
    with transaction(engine) as conn:
        run = conn.execute(select(playbook_runs.c.state).where(
            playbook_runs.c.id == run_id).with_for_update()).first()
        if run is None:
            raise NoSuchRun(f"no run {run_id}")
        if run.state != "waiting_approval":
            raise NotWaiting(f"run {run_id} is {run.state}, not waiting for an approval")
        conn.execute(update(step_executions)
                     .where(step_executions.c.run_id == run_id,
                            step_executions.c.state == "waiting")
                     .values(state="done", finished_at=at, reason=f"approved by {by}"))
        conn.execute(update(playbook_runs).where(playbook_runs.c.id == run_id)
                     .values(state="running"))
        audit(conn, at, by, "run.approved", "run", str(run_id))
    return {"run_id": run_id, "state": "running", "approved_by": by}
