"""The constraints later work relies on hold on both databases: idempotency, UTC times, checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, StatementError

from orchestrator.store.schema import (
    audience_members,
    contacts,
    incident_events,
    incidents,
    outbox,
    playbook_runs,
    scheduled_posts,
    step_executions,
    suppressions,
)
from orchestrator.store.sql import insert_ignore

T0 = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)


def _message(key: str = "run1:on_start.1:sms:+15005550006", **extra) -> dict:
    return {"idempotency_key": key, "channel": "sms", "recipient": "+15005550006",
            "body": "Facebook is down; we are on it.", **extra}


def _incident(conn, key: str = "facebook:2026-11-22T13:00:00Z") -> int:
    return conn.execute(incidents.insert().values(
        key=key, kind="platform", platform="facebook", title="Facebook is down",
        started_at=T0,
    )).inserted_primary_key[0]


def test_outbox_idempotency_key_is_unique(engine):
    with engine.begin() as conn:
        conn.execute(outbox.insert().values(_message()))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(outbox.insert().values(_message(body="a second copy")))


def test_insert_ignore_inserts_once(engine):
    with engine.begin() as conn:
        assert insert_ignore(conn, outbox, _message()) is True
        assert insert_ignore(conn, outbox, _message(body="a second copy")) is False
        assert insert_ignore(conn, outbox, _message(), conflict_on=["idempotency_key"]) is False
        rows = conn.execute(sa.select(outbox.c.body, outbox.c.state, outbox.c.attempts)).all()
    assert rows == [("Facebook is down; we are on it.", "pending", 0)]


def test_insert_ignore_with_a_target_still_raises_on_other_conflicts(engine):
    with engine.begin() as conn:
        first = _incident(conn)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        insert_ignore(conn, incidents, {"id": first, "key": "another", "kind": "manual",
                                        "title": "t", "started_at": T0}, conflict_on=["key"])


def test_incident_key_makes_opening_idempotent(engine):
    values = {"key": "facebook:2026-11-22T13:00:00Z", "kind": "platform", "platform": "facebook",
              "title": "Facebook is down", "started_at": T0}
    with engine.begin() as conn:
        assert insert_ignore(conn, incidents, values)
        assert not insert_ignore(conn, incidents, values)
        assert conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar() == 1


@pytest.mark.parametrize("written", [
    pytest.param(T0, id="utc"),
    pytest.param(T0.astimezone(timezone(timedelta(hours=-5))), id="new-york"),
    pytest.param(T0.astimezone(timezone(timedelta(hours=5, minutes=30))), id="kolkata"),
])
def test_aware_datetimes_come_back_in_utc(engine, written):
    with engine.begin() as conn:
        conn.execute(scheduled_posts.insert().values(
            channel="facebook-page", text="Launch day", publish_at=written))
        row = conn.execute(sa.select(scheduled_posts.c.publish_at, scheduled_posts.c.created_at,
                                     scheduled_posts.c.updated_at)).one()
    assert row.publish_at == T0
    assert row.publish_at.utcoffset() == timedelta(0)
    assert row.created_at.tzinfo is not None and row.updated_at.utcoffset() == timedelta(0)


def test_time_comparisons_happen_in_utc(engine):
    # 09:00 in New York is 14:00 UTC: later than T0 although its wall clock reads earlier.
    later = datetime(2026, 11, 22, 9, 0, tzinfo=timezone(timedelta(hours=-5)))
    with engine.begin() as conn:
        conn.execute(scheduled_posts.insert(), [
            {"channel": "x", "text": "first", "publish_at": T0},
            {"channel": "x", "text": "second", "publish_at": later},
        ])
        due = conn.execute(sa.select(scheduled_posts.c.text)
                           .where(scheduled_posts.c.publish_at <= T0 + timedelta(minutes=30))
                           ).scalars().all()
        ordered = conn.execute(sa.select(scheduled_posts.c.text)
                               .order_by(scheduled_posts.c.publish_at)).scalars().all()
    assert due == ["first"]
    assert ordered == ["first", "second"]


def test_naive_datetimes_are_refused(engine):
    with pytest.raises(StatementError, match="naive datetime"), engine.begin() as conn:
        conn.execute(scheduled_posts.insert().values(
            channel="x", text="t", publish_at=datetime(2026, 11, 22, 13, 0)))


def test_json_documents_round_trip(engine):
    payload = {"to": ["+15005550006"], "media": None, "n": 3, "nested": {"ok": True}}
    with engine.begin() as conn:
        conn.execute(outbox.insert().values(_message(payload=payload, fallback=["email"])))
        row = conn.execute(sa.select(outbox.c.payload, outbox.c.fallback)).one()
    assert row.payload == payload and row.fallback == ["email"]


def test_lifecycle_states_are_checked(engine):
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(outbox.insert().values(_message(state="sending")))


def test_foreign_keys_are_enforced_and_cascade(engine):
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(incident_events.insert().values(incident_id=999, kind="note"))
    with engine.begin() as conn:
        incident_id = _incident(conn)
        run_id = conn.execute(playbook_runs.insert().values(
            incident_id=incident_id, playbook="meta-outage")).inserted_primary_key[0]
        conn.execute(step_executions.insert().values(
            run_id=run_id, phase="on_start", step_index=0, kind="pause_posts"))
        conn.execute(outbox.insert().values(_message(run_id=run_id)))
        conn.execute(incidents.delete())
        assert conn.execute(sa.select(sa.func.count()).select_from(step_executions)).scalar() == 0
        # The delivery ledger outlives the run it came from.
        assert conn.execute(sa.select(outbox.c.run_id)).scalar_one() is None


def test_a_playbook_runs_once_per_incident(engine):
    with engine.begin() as conn:
        incident_id = _incident(conn)
        values = {"incident_id": incident_id, "playbook": "meta-outage"}
        assert insert_ignore(conn, playbook_runs, values)
        assert not insert_ignore(conn, playbook_runs, values)


def test_suppressions_and_audiences_are_keyed(engine):
    with engine.begin() as conn:
        contact_id = conn.execute(contacts.insert().values(
            name="Ada", phone="+15005550006", tags=["vip"])).inserted_primary_key[0]
        assert insert_ignore(conn, audience_members, {"audience": "vip", "contact_id": contact_id})
        assert not insert_ignore(conn, audience_members,
                                 {"audience": "vip", "contact_id": contact_id})
        stop = {"address_kind": "sms", "address": "+15005550006", "reason": "STOP"}
        assert insert_ignore(conn, suppressions, stop)
        assert not insert_ignore(conn, suppressions, stop)
