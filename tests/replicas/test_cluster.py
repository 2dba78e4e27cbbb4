"""Three replica processes on one PostgreSQL schema against the Twilio sandbox: kill, stop, restart.

Counted at the sandbox: every recipient of the fan-out gets exactly one message, whatever
happens to the replicas, and a leader whose token went stale writes (and so sends) nothing.
"""

from __future__ import annotations

import signal
import time

import pytest
from sqlalchemy import select

from orchestrator.sandbox import Sandbox
from orchestrator.store.engine import make_engine
from orchestrator.store.migrate import upgrade
from orchestrator.store.schema import audit_log, outbox
from tests.outbox.sandboxed import phone
from tests.replicas.cluster import Cluster, wait_for

# Three processes and 10,000 sends on a small shared machine: longer than the default timeout.
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(300)]

TTL = 3.0
RENEW = TTL / 3
FANOUT = 10_000
# A dead dispatcher's rows come back after this; long enough that a live one never loses
# rows it still holds on this small, busy machine.
ROW_LEASE = 10.0


@pytest.fixture
def cluster(postgres_url_factory, tmp_path, request):
    url = postgres_url_factory()
    engine = make_engine(url)
    upgrade(engine)
    options = getattr(request, "param", {})
    with Sandbox() as sandbox:
        group = Cluster(engine, url, sandbox, tmp_path, ttl=TTL, row_lease=ROW_LEASE,
                        concurrency=8, **options)
        try:
            yield group
        finally:
            group.stop_all()
            engine.dispose()


def expected(n: int = FANOUT) -> dict[str, int]:
    return {phone(i): 1 for i in range(n)}


def assert_exactly_once(cluster: Cluster, n: int = FANOUT) -> None:
    wait_for(lambda: cluster.settled(n), 150, f"{n} rows sent: {cluster.outbox_states()}",
             every=0.25)
    counts = cluster.sent_to()
    duplicates = {to: c for to, c in counts.items() if c > 1}
    assert not duplicates, f"{len(duplicates)} recipients got more than one message"
    assert counts == expected(n)
    assert cluster.outbox_states().get("unknown", 0) == 0


@pytest.mark.parametrize("cluster", [{"fanout": FANOUT}], indirect=True)
def test_sigkill_the_leader_during_a_fan_out(cluster):
    cluster.start_all(3)
    wait_for(cluster.leader, 20, "a leader")
    # Midway: the leader is still enqueueing and every replica is sending.
    wait_for(lambda: cluster.sent() >= 1500, 60, "sends under way", every=0.2)
    assert cluster.outbox_states().get("pending", 0) > 0
    first = wait_for(cluster.leader, 10, "the current leader")
    cluster.kill(first.holder)
    killed_at = time.monotonic()

    def successor():
        record = cluster.leader()
        return record if record and record.holder != first.holder else None

    second = wait_for(successor, TTL + RENEW + 5, "a new leader", every=0.02)
    took = time.monotonic() - killed_at
    # The lease lapses at most TTL after the last renewal, and followers ask every TTL/3.
    assert took <= TTL + RENEW + 0.5, f"new leader after {took:.2f}s"
    assert second.token == first.token + 1
    assert_exactly_once(cluster)
    assert cluster.flaps() == [], "leadership changed hands without a failure"


@pytest.mark.parametrize("cluster", [{"fanout": 3000, "ticks": True, "chunk_every": 0.2}],
                         indirect=True)
def test_sigstop_the_leader_for_two_ttls_it_writes_nothing_with_its_stale_token(cluster):
    cluster.start_all(3)
    wait_for(cluster.leader, 20, "a leader")
    first = cluster.leader()
    old = first.token
    wait_for(lambda: ticks(cluster, old), 20, "ticks from the first leader")
    cluster.send(first.holder, signal.SIGSTOP)
    time.sleep(0.5)  # a statement already at the server when it stopped may still land
    before = ticks(cluster, old)
    time.sleep(2 * TTL - 0.5)
    second = cluster.leader()
    assert second is not None and second.holder != first.holder
    assert second.token == old + 1
    assert ticks(cluster, old) == before  # nothing while stopped, of course
    cluster.send(first.holder, signal.SIGCONT)
    # It wakes up, finds its own deadline long past, steps down and probes the fence.
    probe = wait_for(lambda: cluster.events(first.holder, "probe"), 10, "the stale probe")
    assert probe[0]["token"] == old and probe[0]["refused"] is True
    deposed = cluster.events(first.holder, "deposed")
    assert deposed and deposed[0]["token"] == old
    time.sleep(1.0)
    assert ticks(cluster, old) == before
    wait_for(lambda: ticks(cluster, second.token), 10, "ticks from the new leader")
    assert_exactly_once(cluster, 3000)
    # At the sandbox: no tick of the old token beyond those written before the stop.
    sent_old = {m["body"] for m in cluster.sandbox.twilio.messages()
                if m["body"].startswith(f"tick {old}:")}
    assert sent_old <= {f"tick {old}:{seq}" for seq in range(1, before + 1)}
    with cluster.engine.connect() as conn:
        probes = conn.execute(select(audit_log).where(audit_log.c.actor == "probe",
                                                      audit_log.c.subject_id == str(old)))
        assert probes.all() == []


def ticks(cluster: Cluster, token: int) -> int:
    """How many tick rows were committed under `token`."""
    with cluster.engine.connect() as conn:
        keys = conn.execute(select(outbox.c.idempotency_key).where(
            outbox.c.idempotency_key.like(f"tick:{token}:%"))).scalars().all()
    return len(keys)


@pytest.mark.parametrize("cluster", [{"fanout": FANOUT}], indirect=True)
def test_restart_every_replica_midway_loses_nothing(cluster):
    cluster.start_all(3)
    wait_for(cluster.leader, 20, "a leader")
    wait_for(lambda: cluster.sent() >= 2000, 60, "sends under way", every=0.2)
    cluster.stop_all(signal.SIGTERM)  # a rolling deploy gone wrong: everyone at once
    cluster.start_all(3)
    wait_for(lambda: cluster.sent() >= 5000, 60, "sends resumed", every=0.2)
    cluster.stop_all(signal.SIGKILL)  # and then a power cut
    cluster.start_all(3)
    assert_exactly_once(cluster)
