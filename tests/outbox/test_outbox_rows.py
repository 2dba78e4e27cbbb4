"""Enqueue writes every field of a row exactly as given, and claim hands every field back."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from orchestrator.outbox import Outbox, OutboxRow
from orchestrator.store.schema import contacts, outbox

T0 = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)


def _row(engine, key: str, **extra) -> OutboxRow:
    with engine.begin() as conn:
        contact = conn.execute(contacts.insert().values(
            name="Ada", email="ada@example.com", created_at=T0)).inserted_primary_key[0]
    fields = dict(channel="email", recipient="ada@example.com", body="We are back.",
                  idempotency_key=key, subject="Resolved", urgent=True,
                  payload={"html": "<p>We are back.</p>", "metadata": {"batch_id": "b1"}},
                  fallback=("sms", "console"), step_key="on_resolve.1", contact_id=contact,
                  audience="customers", max_attempts=7, next_attempt_at=T0)
    fields.update(extra)
    return OutboxRow(**fields)


def test_enqueue_writes_every_field_as_given(engine):
    row = _row(engine, "r:1")
    assert Outbox(engine).enqueue([row], now=T0) == 1
    with engine.connect() as conn:
        stored = conn.execute(sa.select(outbox)).one()._mapping
    assert {k: stored[k] for k in ("idempotency_key", "channel", "recipient", "body",
                                   "subject", "urgent", "payload", "step_key", "contact_id",
                                   "audience", "max_attempts", "next_attempt_at")} == {
        "idempotency_key": "r:1", "channel": "email", "recipient": "ada@example.com",
        "body": "We are back.", "subject": "Resolved", "urgent": True,
        "payload": {"html": "<p>We are back.</p>", "metadata": {"batch_id": "b1"}},
        "step_key": "on_resolve.1", "contact_id": row.contact_id, "audience": "customers",
        "max_attempts": 7, "next_attempt_at": T0}
    assert stored["fallback"] == ["sms", "console"]
    assert (stored["state"], stored["attempts"], stored["last_error"]) == ("pending", 0, None)
    assert stored["created_at"] == stored["updated_at"] == T0


def test_claim_hands_back_what_was_enqueued(engine):
    rows = [_row(engine, f"r:{i}", recipient=f"u{i}@example.com",
                 payload=None if i % 2 else {"metadata": {"i": i}}) for i in range(3)]
    assert Outbox(engine).enqueue(rows, now=T0) == 3
    claims = Outbox(engine).claim("me", limit=10, now=T0)
    assert [(c.key, c.recipient, c.payload, c.fallback, c.urgent, c.max_attempts, c.subject,
             c.audience, c.step_key, c.contact_id, c.attempts, c.reclaimed)
            for c in claims] == [
        (r.idempotency_key, r.recipient, r.payload or {}, ("sms", "console"), True, 7,
         "Resolved", "customers", "on_resolve.1", r.contact_id, 0, False) for r in rows]
    assert claims[0].message().html is None and claims[0].message().metadata == {"i": 0}
