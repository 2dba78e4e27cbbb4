"""The leader lease and its fencing token on a fake clock, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from orchestrator.clock import FakeClock
from orchestrator.errors import StaleLeaseError
from orchestrator.lease import (
    FencedWriter,
    LeaderLease,
    fenced,
    fenced_transaction,
    read_lease,
)
from orchestrator.store.schema import audit_log, leases

TTL = timedelta(seconds=15)


def pair(engine, clock):
    return (LeaderLease(engine, holder="a", ttl=TTL, clock=clock),
            LeaderLease(engine, holder="b", ttl=TTL, clock=clock))


def lease_row(engine):
    with engine.connect() as conn:
        return conn.execute(select(leases)).one()


def test_first_acquire_gets_token_one_and_others_are_refused(engine):
    clock = FakeClock()
    a, b = pair(engine, clock)
    assert a.try_acquire() == 1
    assert a.is_leader() and a.token == 1
    assert b.try_acquire() is None
    assert not b.is_leader() and b.token is None
    row = lease_row(engine)
    assert (row.holder, row.token) == ("a", 1)
    assert row.expires_at == clock.now() + TTL


def test_renewing_keeps_the_token_and_pushes_the_expiry(engine):
    clock = FakeClock()
    a, b = pair(engine, clock)
    a.try_acquire()
    for _ in range(5):
        clock.advance(TTL / 3)
        assert a.renew() is True
        assert b.try_acquire() is None
    assert a.token == 1
    assert lease_row(engine).expires_at == clock.now() + TTL
    assert a.try_acquire() == 1  # acquiring what one holds is a renewal


def test_takeover_after_expiry_bumps_the_token(engine):
    clock = FakeClock()
    a, b = pair(engine, clock)
    a.try_acquire()
    clock.advance(TTL - timedelta(seconds=1))
    assert b.try_acquire() is None  # not expired yet
    clock.advance(timedelta(seconds=2))
    assert b.try_acquire() == 2
    row = lease_row(engine)
    assert (row.holder, row.token, row.acquired_at) == ("b", 2, clock.now())
    # The old holder cannot renew into the new tenure, and learns it lost.
    assert a.renew() is False
    assert not a.is_leader()
    assert a.try_acquire() is None


def test_the_same_holder_back_after_expiry_starts_a_new_tenure(engine):
    clock = FakeClock()
    a, _ = pair(engine, clock)
    a.try_acquire()
    clock.advance(TTL + timedelta(seconds=1))
    assert a.renew() is False  # its tenure ended in the database
    assert a.try_acquire() == 2


def test_a_leader_steps_down_by_itself_before_the_ttl_minus_margin(engine):
    clock = FakeClock()
    a, b = pair(engine, clock)
    a.try_acquire()
    clock.advance(TTL - a.margin - timedelta(milliseconds=1))
    assert a.is_leader()
    clock.advance(timedelta(milliseconds=2))
    # No database involved: its own clock says the lease may be about to go.
    assert not a.is_leader() and a.token is None
    assert a.seconds_left() == 0
    # ... while the database still holds it for a, so nobody else leads either yet.
    assert b.try_acquire() is None


def test_release_hands_over_at_once(engine):
    clock = FakeClock()
    a, b = pair(engine, clock)
    a.try_acquire()
    a.release()
    assert not a.is_leader()
    clock.advance(0.001)
    assert b.try_acquire() == 2


def test_fenced_writes_commit_under_the_current_token_only(engine):
    clock = FakeClock()
    a, b = pair(engine, clock)
    a.try_acquire()
    writer = FencedWriter(engine, a)
    with writer.transaction() as conn:
        conn.execute(insert(audit_log).values(actor="a", action="tick"))
    clock.advance(TTL + timedelta(seconds=1))
    assert b.try_acquire() == 2
    # The local check refuses first...
    with pytest.raises(StaleLeaseError, match="not the leader"):
        with writer.transaction():
            pass
    # ... and the database refuses a stale token even when the local check is skipped.
    with pytest.raises(StaleLeaseError, match="token 1 is stale"):
        with engine.begin() as conn:
            fenced(conn, "timers", 1)
            conn.execute(insert(audit_log).values(actor="a", action="stale tick"))
    with fenced_transaction(engine, b) as conn:
        conn.execute(insert(audit_log).values(actor="b", action="tick"))
    with engine.connect() as conn:
        assert conn.execute(select(audit_log.c.actor, audit_log.c.action)
                            .order_by(audit_log.c.id)).all() == [("a", "tick"), ("b", "tick")]


def test_an_explicit_stale_token_is_refused_even_by_the_current_leader(engine):
    clock = FakeClock()
    a, _ = pair(engine, clock)
    a.try_acquire()
    clock.advance(TTL * 2)
    assert a.try_acquire() == 2
    with pytest.raises(StaleLeaseError):
        with fenced_transaction(engine, a, token=1):
            pass


def test_lease_record_reads_the_holder_and_liveness(engine):
    clock = FakeClock()
    a, _ = pair(engine, clock)
    with engine.connect() as conn:
        assert read_lease(conn, "timers", clock) is None
    a.try_acquire()
    with engine.connect() as conn:
        record = read_lease(conn, "timers", clock)
    assert (record.holder, record.token, record.live) == ("a", 1, True)


def test_leases_by_name_are_independent(engine):
    clock = FakeClock()
    timers = LeaderLease(engine, "timers", holder="a", ttl=TTL, clock=clock)
    other = LeaderLease(engine, "calendar", holder="b", ttl=TTL, clock=clock)
    assert timers.try_acquire() == 1 and other.try_acquire() == 1


def test_bad_ttl_and_margin_are_refused(engine):
    with pytest.raises(ValueError):
        LeaderLease(engine, ttl=timedelta(0))
    with pytest.raises(ValueError):
        LeaderLease(engine, ttl=TTL, margin=TTL)


def test_a_fenced_engine_fences_code_that_opens_its_own_transactions(engine):
    from orchestrator.detector import PlatformChange
    from orchestrator.incidents import IncidentManager
    from orchestrator.lease import fenced_engine

    clock = FakeClock()
    a, b = pair(engine, clock)
    a.try_acquire()
    timers = fenced_engine(engine.url, a)
    try:
        manager = IncidentManager(timers, {}, clock=clock)
        manager.handle(PlatformChange("x", None, "major_outage", clock.now(), "down"))
        clock.advance(TTL + timedelta(seconds=1))
        b.try_acquire()
        # The old leader's incident manager is refused at its first transaction.
        with pytest.raises(StaleLeaseError):
            manager.handle(PlatformChange("x", "major_outage", "operational", clock.now(),
                                          "back"))
    finally:
        timers.dispose()
    from orchestrator.store.schema import platform_states
    with engine.connect() as conn:
        assert conn.execute(select(platform_states.c.state)).scalars().all() == ["major_outage"]
