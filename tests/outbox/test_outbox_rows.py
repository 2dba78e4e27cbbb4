"""Enqueue writes every field as given, commits a large fan-out as it goes, and claim hands
every field back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from orchestrator.outbox import ENQUEUE_COMMIT, Outbox, OutboxRow
from orchestrator.store.schema import contacts, outbox, suppressions

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


def _plain(i: int, key: str = "fan") -> OutboxRow:
    return OutboxRow("email", f"u{i}@example.com", "We are back.", f"{key}:{i}")


def test_a_large_enqueue_commits_as_it_goes_and_a_rerun_adds_only_the_rest(engine):
    total, crash_at = ENQUEUE_COMMIT * 2 + 10, ENQUEUE_COMMIT + 7
    seen_committed = []

    def rows_then_crash():
        for i in range(total):
            if i == crash_at:
                # What another connection (the dispatcher) can see while the fan-out is
                # still being written: the first commit, not the rows after it.
                with engine.connect() as other:
                    seen_committed.append(other.execute(
                        sa.select(sa.func.count()).select_from(outbox)).scalar())
                raise RuntimeError("the runner died here")
            yield _plain(i)

    with pytest.raises(RuntimeError):
        Outbox(engine).enqueue(rows_then_crash(), now=T0)
    assert seen_committed == [ENQUEUE_COMMIT]
    # The step runs again: only the rows that never made it are new.
    assert Outbox(engine).enqueue((_plain(i) for i in range(total)), now=T0) == (
        total - ENQUEUE_COMMIT)
    assert Outbox(engine).counts() == {"pending": total}


def test_suppressed_recipients_are_written_as_suppressed_in_every_commit(engine):
    with engine.begin() as conn:
        conn.execute(suppressions.insert().values(address_kind="email", address="u3@example.com",
                                                  reason="unsubscribed", created_at=T0))
        conn.execute(suppressions.insert().values(
            address_kind="email", address=f"u{ENQUEUE_COMMIT + 3}@example.com",
            reason="bounced", created_at=T0))
    assert Outbox(engine).enqueue((_plain(i) for i in range(ENQUEUE_COMMIT + 5)), now=T0) == (
        ENQUEUE_COMMIT + 5)
    with engine.connect() as conn:
        held = conn.execute(sa.select(outbox.c.recipient, outbox.c.last_error)
                            .where(outbox.c.state == "suppressed")
                            .order_by(outbox.c.id)).all()
    assert [tuple(r) for r in held] == [
        ("u3@example.com", "suppressed: unsubscribed"),
        (f"u{ENQUEUE_COMMIT + 3}@example.com", "suppressed: bounced")]
