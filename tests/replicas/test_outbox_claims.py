"""The outbox's claims as several replicas see them, on PostgreSQL: disjoint, reclaimable."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, func, select, text, update

from orchestrator.outbox import Outbox, OutboxRow, Settlement
from orchestrator.store.schema import outbox
from orchestrator.store.types import UTCDateTime, utcnow

pytestmark = pytest.mark.postgres


def fill(engine, n: int) -> Outbox:
    box = Outbox(engine)
    box.enqueue([OutboxRow("sms", f"+1415555{i:04d}", "hi", f"k{i}") for i in range(n)])
    return box


def test_concurrent_claimers_never_share_a_row(pg_engine):
    fill(pg_engine, 1500)
    # Claims take a couple of milliseconds: without a common start, the first thread can
    # drain the table before the last one has started.
    start = threading.Barrier(3)

    def drain(owner: str) -> list[int]:
        box, got = Outbox(pg_engine), []
        box.counts()  # connect first, so the race is over claims, not connections
        start.wait(timeout=30)
        while claims := box.claim(owner, limit=20, lease=60):
            got += [c.id for c in claims]
        return got

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(drain, ["a", "b", "c"]))
    ids = [i for got in results for i in got]
    assert len(ids) == len(set(ids)) == 1500
    assert all(results)  # every claimer got some: SKIP LOCKED, not a queue behind one


def test_a_dead_replicas_rows_are_reclaimed_and_its_late_verdicts_are_ignored(pg_engine):
    box = fill(pg_engine, 5)
    t0 = utcnow()
    mine = box.claim("dead", limit=5, lease=10, now=t0)
    assert box.claim("alive", limit=5, lease=10, now=t0 + timedelta(seconds=9)) == []
    theirs = box.claim("alive", limit=5, lease=10, now=t0 + timedelta(seconds=11))
    assert [c.id for c in theirs] == [c.id for c in mine]
    assert all(c.reclaimed for c in theirs)  # to be reconciled, not blindly resent
    # The first holder wakes up and reports: its lease token is gone, nothing lands.
    assert box.settle([Settlement(c, "sent", provider_id="late") for c in mine]) == 0
    with pg_engine.connect() as conn:
        owners = conn.execute(select(outbox.c.lease_owner, outbox.c.provider_id)).all()
    assert set(owners) == {("alive", None)}


def test_renewing_does_not_touch_rows_another_replica_reclaimed(pg_engine):
    box = fill(pg_engine, 3)
    t0 = utcnow()
    box.claim("dead", limit=3, lease=10, now=t0)
    box.claim("alive", limit=3, lease=10, now=t0 + timedelta(seconds=11))
    assert box.renew("dead", 10, now=t0 + timedelta(seconds=12)) == 0


def test_renewing_does_not_revive_a_lapsed_lease(pg_engine):
    box = fill(pg_engine, 3)
    t0 = utcnow()
    box.claim("stalled", limit=3, lease=10, now=t0)
    # Nobody reclaimed them yet; the stalled dispatcher's renewal must not make them its own
    # again, since it has already given up on sending them.
    assert box.renew("stalled", 10, now=t0 + timedelta(seconds=11)) == 0



def wait_until_blocked(engine, pid: int, limit: float = 10.0) -> None:
    """Return once another backend waits for a lock the backend `pid` holds."""
    deadline = time.monotonic() + limit
    query = text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
    with engine.connect() as conn:
        while conn.execute(query, {"pid": pid}).scalar() == 0:
            assert time.monotonic() < deadline, "the settle never blocked"
            conn.rollback()  # a fresh statistics snapshot for the next look
            time.sleep(0.01)


def race_renewals(box: Outbox, settlements: list[Settlement]) -> int:
    """Settle on one connection while another renews the same owner's leases in a loop."""
    start, settled = threading.Barrier(2), threading.Event()

    def renew() -> None:
        start.wait()
        while not settled.is_set():
            box.renew("me", 60)

    def settle() -> int:
        start.wait()
        try:
            return box.settle(settlements)
        finally:
            settled.set()

    with ThreadPoolExecutor(2) as pool:
        renewing, applied = pool.submit(renew), pool.submit(settle)
        renewing.result()  # a DeadlockDetected on either side would be raised here
        return applied.result()


def test_renew_and_settle_on_two_connections_never_deadlock_or_lose_an_outcome(pg_engine):
    # One dispatcher's renewal and flusher run on two connections at once over the same
    # rows. Settling in descending id order (one statement per row: distinct provider ids)
    # while the renewal locked in ascending order deadlocked; every outcome must land.
    box = fill(pg_engine, 20 * 150)
    for round_ in range(20):
        claims = box.claim("me", limit=150, lease=60)
        assert len(claims) == 150
        settlements = [Settlement(c, "sent", provider_id=f"p{c.id}") for c in reversed(claims)]
        assert race_renewals(box, settlements) == 150, f"round {round_}"
    assert Outbox(pg_engine).counts() == {"sent": 20 * 150}


def test_a_settle_chosen_as_deadlock_victim_runs_again_and_counts_each_attempt_once(pg_engine):
    box = fill(pg_engine, 2)
    first, second = box.claim("me", limit=2, lease=60)
    admin = pg_engine.connect()
    pid = admin.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    # This side waits long before checking for deadlock, so the settle (default 1 s) is
    # the one PostgreSQL rolls back.
    admin.exec_driver_sql("SET deadlock_timeout = '20s'")
    admin.execute(update(outbox).where(outbox.c.id == second.id).values(body="held"))
    with ThreadPoolExecutor(1) as pool:
        applied = pool.submit(box.settle, [Settlement(first, "sent", provider_id="a"),
                                           Settlement(second, "sent", provider_id="b")])
        try:
            wait_until_blocked(pg_engine, pid)
            # Close the cycle: the settle holds `first` and waits for `second`. PostgreSQL
            # rolls the settle back, this statement then gets `first`, and the rollback
            # below lets the settle's second run through.
            admin.execute(update(outbox).where(outbox.c.id == first.id).values(body="x"))
        finally:
            admin.rollback()
            admin.close()
        assert applied.result(timeout=30) == 2
    with pg_engine.connect() as conn:
        rows = conn.execute(select(outbox.c.state, outbox.c.attempts, outbox.c.body)).all()
    assert sorted(rows) == [("sent", 1, "hi"), ("sent", 1, "hi")]


def test_without_now_lease_times_are_the_database_servers(pg_engine):
    # Replicas' clocks may disagree; the server's does not. Every lease time a claim or a
    # renewal writes or compares comes from statement_timestamp(), none from this host.
    box = fill(pg_engine, 2)
    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(pg_engine, "before_cursor_execute", record)
    try:
        claims = box.claim("me", limit=1, lease=30)
        box.renew("me", 45)
    finally:
        event.remove(pg_engine, "before_cursor_execute", record)
    leasing = [(sql, params) for sql, params in statements if "lease_expires_at" in sql]
    assert len(leasing) == 3  # expired rows, pending rows, the renewal
    assert all("statement_timestamp()" in sql for sql, _ in leasing)
    # (updated_at is a record of when this host wrote, never compared.)
    assert not [k for _, params in leasing for k, v in (params or {}).items()
                if isinstance(v, datetime) and k != "updated_at"]
    with pg_engine.connect() as conn:
        expires, server = conn.execute(
            select(outbox.c.lease_expires_at, func.statement_timestamp(type_=UTCDateTime))
            .where(outbox.c.id == claims[0].id)).one()
    left = expires - server
    assert timedelta(seconds=44) < left <= timedelta(seconds=45)
