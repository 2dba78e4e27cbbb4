"""SIGTERM to `orchestrator run`: in-flight sends finish, the rest stay pending, counts logged."""

from __future__ import annotations

import signal
import time

import pytest
from sqlalchemy import func, select

from orchestrator.outbox import Outbox, OutboxRow
from orchestrator.store.engine import make_engine
from orchestrator.store.migrate import upgrade
from orchestrator.store.schema import outbox
from tests.service.conftest import SECRETS, write_config
from tests.service.daemon import Daemon

ROWS = 60


def queue_sms(storage: str, count: int) -> None:
    engine = make_engine(storage)
    try:
        upgrade(engine)
        Outbox(engine).enqueue(OutboxRow(
            channel="sms", recipient=f"+1415{5550000 + i:07d}", body=f"message {i}",
            idempotency_key=f"test:sigterm:{i}") for i in range(count))
    finally:
        engine.dispose()


def states(storage: str) -> dict[str, int]:
    engine = make_engine(storage)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state))
            return dict(rows.all())
    finally:
        engine.dispose()


@pytest.mark.slow
def test_sigterm_finishes_in_flight_sends_and_leaves_the_rest_pending(tmp_path, sandbox,
                                                                      daemons):
    config = write_config(tmp_path, sandbox, rate="4/s")
    storage = f"sqlite:///{tmp_path}/orchestrator.db"
    queue_sms(storage, ROWS)
    sandbox.script.slow("twilio", 0.4, times=None, method="POST")
    daemon = Daemon(config, SECRETS)
    daemons.append(daemon)
    daemon.event("service.started", timeout=30)
    deadline = time.monotonic() + 20
    while len(sandbox.requests("twilio", "Messages.json", "POST")) < 4:
        assert time.monotonic() < deadline, "no SMS reached the sandbox"
        time.sleep(0.05)

    stopped_at = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.stop(timeout=30) == 0
    took = time.monotonic() - stopped_at

    arrived = sandbox.requests("twilio", "Messages.json", "POST")
    final = states(storage)
    report = daemon.events("service.stopped")[-1]
    # Every request the provider saw is recorded as sent, exactly once; nothing is lost.
    assert final.get("sent", 0) == len(arrived) == report["sent"]
    assert final.get("pending", 0) == ROWS - len(arrived) == report["left_pending"] > 0
    assert final.get("in_flight", 0) == 0
    assert took < 10, f"stopping took {took:.1f} s"
