"""The outbox's claims as several replicas see them, on PostgreSQL: disjoint, reclaimable."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from orchestrator.outbox import Outbox, OutboxRow, Settlement
from orchestrator.store.schema import outbox
from orchestrator.store.types import utcnow

pytestmark = pytest.mark.postgres


def fill(engine, n: int) -> Outbox:
    box = Outbox(engine)
    box.enqueue([OutboxRow("sms", f"+1415555{i:04d}", "hi", f"k{i}") for i in range(n)])
    return box


def test_concurrent_claimers_never_share_a_row(pg_engine):
    fill(pg_engine, 1500)

    def drain(owner: str) -> list[int]:
        box, got = Outbox(pg_engine), []
        while claims := box.claim(owner, limit=40, lease=60):
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
