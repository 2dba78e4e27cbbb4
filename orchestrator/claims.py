"""What a claim is: the leased row a sender holds, and the statements that lease it.

Claims read rows as the driver returns them (bulk.driver_rows) and are built from fixed
statements with bind parameters, one set per shape: at thousands of messages a second,
SQLAlchemy's statement building and per-row processing cost more than the SQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, Interval, and_, bindparam, func, or_, select, update

from channels.base import Message
from orchestrator.store.schema import outbox, outbox_state
from orchestrator.store.types import UTCDateTime


@dataclass(slots=True)
class Claimed:
    """A row this dispatcher holds the lease of (`token`)."""

    id: int
    key: str
    channel: str
    recipient: str | None
    body: str
    subject: str | None
    payload: dict[str, Any]
    urgent: bool
    fallback: tuple[str, ...]
    contact_id: int | None
    run_id: int | None
    step_key: str | None
    audience: str | None
    attempts: int
    max_attempts: int
    token: str
    reclaimed: bool = False  # its previous lease expired: the provider may have it already
    started: bool = False    # a send was begun under the previous lease
    claimed_at: float = 0.0  # time.monotonic() just before the claim: the lease runs from here

    def message(self) -> Message:
        return Message(idempotency_key=self.key, body=self.body, recipient=self.recipient,
                       subject=self.subject, html=self.payload.get("html"),
                       metadata=dict(self.payload.get("metadata") or {}))


# What a sender needs from a claimed row (no timestamps: converting them costs time),
# read as the driver returns it (see bulk.driver_rows).
CLAIM_COLUMNS = [outbox.c[name] for name in (
    "id", "idempotency_key", "channel", "recipient", "body", "subject", "payload", "urgent",
    "fallback", "contact_id", "run_id", "step_key", "audience", "attempts", "max_attempts")]


def claimed(row: Any, token: str, previous: dict[int, tuple[str, Any]],
             started_at: float) -> Claimed:
    """A claim from a driver row of CLAIM_COLUMNS (JSON still text on SQLite)."""
    (id_, key, channel, recipient, body, subject, payload, urgent, fallback, contact_id,
     run_id, step_key, audience, attempts, max_attempts) = row
    state, sent_at = previous.get(id_, ("pending", None))
    if payload.__class__ is str:
        payload = json.loads(payload)
    if fallback.__class__ is str:
        fallback = json.loads(fallback)
    return Claimed(id_, key, channel, recipient, body or "", subject, payload or {},
                   bool(urgent), tuple(fallback or ()), contact_id, run_id, step_key,
                   audience, attempts, max_attempts, token, state == "in_flight",
                   sent_at is not None, started_at)


@lru_cache(maxsize=64)
def claim_statements(postgres: bool, names: tuple[str, ...] | None, start: bool,
                      server_time: bool) -> tuple[Any, Any, Any]:
    """The claim's three statements for one shape, built once: constructing them costs
    more than running them. "Now" is the server's on PostgreSQL unless a time was given
    (`at`, with `expires` worked out in Python)."""
    if server_time:
        at: Any = func.statement_timestamp(type_=UTCDateTime)
        expires: Any = at + bindparam("lease", type_=Interval())
    else:
        at = bindparam("at", type_=UTCDateTime)
        expires = bindparam("expires", type_=UTCDateTime)
    lease_values = {"state": "in_flight", "lease_owner": bindparam("owner"),
                    "lease_token": bindparam("token"), "lease_expires_at": expires,
                    "updated_at": at}
    if start:
        lease_values["sent_at"] = at

    def due(condition, query):
        query = query.where(condition).limit(bindparam("limit", type_=Integer))
        if names is not None:
            query = query.where(outbox.c.channel.in_(names))
        # Several dispatchers: each skips the rows another is claiming right now.
        return query.with_for_update(skip_locked=True) if postgres else query

    expired = due(and_(outbox_state("in_flight"), outbox.c.lease_expires_at < at),
                  select(outbox.c.id, outbox.c.sent_at))
    claim = update(outbox).values(**lease_values).returning(*CLAIM_COLUMNS)
    by_ids = claim.where(outbox.c.id.in_(bindparam("ids", expanding=True)))
    pending = claim.where(outbox.c.id.in_(due(
        and_(outbox_state("pending"), or_(outbox.c.next_attempt_at.is_(None),
                                              outbox.c.next_attempt_at <= at)),
        select(outbox.c.id)).scalar_subquery()))
    return expired, by_ids, pending
