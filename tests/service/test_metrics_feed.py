"""On SQLite the daemon leads at once, and its polls and sends show at /metrics."""

from __future__ import annotations

import httpx
import pytest

from orchestrator.outbox import Outbox, OutboxRow
from orchestrator.store.engine import make_engine
from orchestrator.store.migrate import upgrade
from tests.replicas.cluster import wait_for
from tests.service.conftest import SECRETS, write_config
from tests.service.daemon import Daemon


def queue_one_sms(storage: str) -> None:
    engine = make_engine(storage)
    try:
        upgrade(engine)
        Outbox(engine).enqueue([OutboxRow(channel="sms", recipient="+14155550100",
                                          body="hello", idempotency_key="test:metrics:1")])
    finally:
        engine.dispose()


def scrape(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics", timeout=5).text
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


@pytest.mark.slow
def test_a_single_replica_leads_and_counts_its_polls(tmp_path, sandbox, daemons):
    config = write_config(tmp_path, sandbox)
    queue_one_sms(f"sqlite:///{tmp_path}/orchestrator.db")
    daemon = Daemon(config, SECRETS)
    daemons.append(daemon)
    url = daemon.event("service.started", timeout=30)["http"]
    assert daemon.event("leader.elected")["token"] == 0
    polls = 'orchestrator_monitor_polls_total{monitor="facebook-status",outcome="ok",' \
            'platform="facebook"}'
    wait_for(lambda: scrape(url).get(polls, 0) >= 2, 15, "two polls counted")
    wait_for(lambda: sandbox.requests("twilio", "Messages.json", "POST"), 15, "the SMS")
    sends = 'orchestrator_sends_total{channel="sms"'
    wait_for(lambda: sum(v for k, v in scrape(url).items() if k.startswith(sends)) == 1, 10,
             "the send counted")
    assert daemon.stop() == 0
    assert daemon.events("leader.deposed")[-1]["token"] == 0
