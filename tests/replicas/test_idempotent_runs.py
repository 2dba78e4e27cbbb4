"""Replicas racing to create the same playbook run get one run (INSERT ... ON CONFLICT)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, insert, select

from orchestrator.playbook.ledger import create_run
from orchestrator.store.schema import incidents, playbook_runs
from orchestrator.store.types import utcnow

pytestmark = pytest.mark.postgres


def test_eight_racing_replicas_create_one_run(pg_engine):
    now = utcnow()
    with pg_engine.begin() as conn:
        incident = conn.execute(insert(incidents).values(
            key="facebook:1", kind="platform", platform="facebook", title="Facebook down",
            state="open", started_at=now).returning(incidents.c.id)).scalar_one()
    barrier = threading.Barrier(8)

    def race(_: int) -> tuple[int, bool]:
        with pg_engine.connect() as conn, conn.begin():
            barrier.wait(timeout=10)  # every transaction open before any inserts
            return create_run(conn, incident, "meta-outage", {}, now)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(race, range(8)))
    assert len({run_id for run_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    with pg_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(playbook_runs)).scalar() == 1
