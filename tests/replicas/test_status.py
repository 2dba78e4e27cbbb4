"""The replica registry, the cluster status query and `orchestrator status [--cluster] [--json]`."""

from __future__ import annotations

import json
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import insert

from orchestrator.cli import cli
from orchestrator.clock import FakeClock
from orchestrator.lease import LeaderLease
from orchestrator.outbox import Outbox, OutboxRow
from orchestrator.replicas import ReplicaRegistry, cluster_status
from orchestrator.store.schema import replicas


def seed(engine, clock):
    a = ReplicaRegistry(engine, "host1-100-aaaaaa", clock=clock, hostname="host1", pid=100)
    b = ReplicaRegistry(engine, "host2-200-bbbbbb", clock=clock, hostname="host2", pid=200)
    a.register()
    b.register()
    LeaderLease(engine, holder=a.id, ttl=timedelta(seconds=15), clock=clock).try_acquire()
    Outbox(engine).enqueue([OutboxRow("sms", f"+1415555{i:04d}", "hi", f"k{i}")
                            for i in range(7)], now=clock.now())
    return a, b


def test_cluster_status_ages_replicas_and_the_lease_on_one_clock(engine):
    clock = FakeClock()
    a, b = seed(engine, clock)
    clock.advance(4)
    a.heartbeat()
    clock.advance(20)
    status = cluster_status(engine, clock=clock)
    by_id = {r.id: r for r in status.replicas}
    assert by_id[a.id].heartbeat_age == 20 and by_id[a.id].alive is False  # 3 beats of 5 s
    assert by_id[b.id].heartbeat_age == 24
    assert by_id[a.id].leader is False  # its lease expired 9 s ago
    (lead,) = status.leaders
    assert (lead.holder, lead.token, lead.lease_age, lead.expires_in, lead.live) == (
        a.id, 1, 24, -9, False)
    assert status.queue["pending"] == 7 and status.queue["due"] == 7
    assert status.queue["in_flight"] == 0


def test_a_live_leader_and_fresh_heartbeats(engine):
    clock = FakeClock()
    a, b = seed(engine, clock)
    status = cluster_status(engine, clock=clock)
    assert [r.leader for r in status.replicas] == [True, False]
    assert all(r.alive for r in status.replicas)
    assert status.leaders[0].expires_in == 15


def test_heartbeat_puts_back_a_removed_row_and_deregister_removes_it(engine):
    clock = FakeClock()
    registry = ReplicaRegistry(engine, "r1", clock=clock)
    registry.heartbeat()  # never registered: registers
    assert [r.id for r in cluster_status(engine, clock=clock).replicas] == ["r1"]
    registry.deregister()
    assert cluster_status(engine, clock=clock).replicas == []


def test_register_forgets_replicas_silent_for_a_day(engine):
    clock = FakeClock()
    with engine.begin() as conn:
        conn.execute(insert(replicas).values(id="ghost", hostname="h", pid=1,
                                             started_at=clock.now(), heartbeat_at=clock.now()))
    clock.advance(timedelta(days=1, seconds=1))
    ReplicaRegistry(engine, "r1", clock=clock).register()
    assert [r.id for r in cluster_status(engine, clock=clock).replicas] == ["r1"]


def test_status_command_text_and_json(engine, db_url):
    seed(engine, FakeClock())  # long expired in real time: no live leader
    runner = CliRunner()
    result = runner.invoke(cli, ["status", "--url", db_url, "--cluster"])
    assert result.exit_code == 0, result.output
    assert "leader (timers): none (last holder host1-100-aaaaaa, token 1)" in result.output
    assert "queue: 7 pending (7 due now), 0 in flight, 0 unknown, 0 failed" in result.output
    assert "replicas: 0 alive of 2 registered" in result.output
    assert "host2-200-bbbbbb" in result.output
    LeaderLease(engine, holder="host2-200-bbbbbb").try_acquire()
    result = runner.invoke(cli, ["status", "--url", db_url, "--json"])
    data = json.loads(result.output)
    assert data["leaders"][0]["holder"] == "host2-200-bbbbbb"
    assert data["leaders"][0]["token"] == 2 and data["leaders"][0]["live"] is True
    assert data["replicas"] == {"count": 2, "alive": 0}
    assert data["queue"]["pending"] == 7
    result = runner.invoke(cli, ["status", "--url", db_url, "--json", "--cluster"])
    assert [r["pid"] for r in json.loads(result.output)["replicas"]] == [100, 200]


def test_status_command_on_an_unreachable_database_fails_in_one_line():
    result = CliRunner().invoke(
        cli, ["status", "--url", "postgresql://postgres@127.0.0.1:1/none"])
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot use the database")
