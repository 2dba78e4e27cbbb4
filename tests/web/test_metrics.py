"""/metrics parses with prometheus_client's own parser; /healthz and /readyz."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families

from orchestrator.monitors.base import Observation
from orchestrator.store.engine import make_engine
from orchestrator.web import WebState, create_app, make_server
from tests.web.conftest import T0, make_config
from tests.web.seed import incident, outbox_row, platform


def samples(text: str) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics(client, state, engine):
    platform(engine, "facebook", "major_outage", T0)
    platform(engine, "x", "operational", T0)
    incident(engine, T0, "Facebook is down")
    incident(engine, T0 - timedelta(days=1), "Old", state="resolved", resolved_at=T0)
    outbox_row(engine, "k1", "sms", "+15550000001", state="pending")
    outbox_row(engine, "k2", "sms", "+15550000002", state="pending")
    outbox_row(engine, "k3", "email", "a@example.com")
    state.metrics.observe_poll(Observation("fb-status", "facebook", T0, "major_outage",
                                           latency_ms=120.0))
    state.metrics.observe_poll(Observation("fb-status", "facebook", T0, "unknown", ok=False))
    state.metrics.observe_send("sms", "sent", 0.2)
    await client.post("/hooks/push/nope", json={})
    answer = await client.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(answer.text)
    assert found[("orchestrator_platform_state",
                  (("platform", "facebook"), ("state", "major_outage")))] == 1
    assert found[("orchestrator_platform_state",
                  (("platform", "facebook"), ("state", "operational")))] == 0
    assert found[("orchestrator_platform_state",
                  (("platform", "x"), ("state", "operational")))] == 1
    assert found[("orchestrator_incidents", (("state", "open"),))] == 1
    assert found[("orchestrator_incidents", (("state", "resolved"),))] == 1
    assert found[("orchestrator_outbox_messages", (("channel", "sms"), ("state", "pending")))] \
        == 2
    assert found[("orchestrator_outbox_messages", (("channel", "email"), ("state", "sent")))] \
        == 1
    assert found[("orchestrator_outbox_queue_depth", ())] == 2
    polls = (("monitor", "fb-status"), ("outcome", "failed"), ("platform", "facebook"))
    assert found[("orchestrator_monitor_polls_total", polls)] == 1
    assert found[("orchestrator_send_latency_seconds_count", (("channel", "sms"),))] == 1
    assert found[("orchestrator_send_latency_seconds_bucket", (("channel", "sms"),
                                                               ("le", "0.25")))] == 1
    assert found[("orchestrator_webhooks_total", (("outcome", "unknown_token"),
                                                  ("route", "push")))] == 1


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).text == "ok"
    assert (await client.get("/readyz")).status_code == 200


async def test_not_ready_without_the_database(clock):
    # Nothing listens on port 9 of the loopback: the connection is refused at once.
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")
    app = create_app(WebState(engine=engine, config=make_config(), clock=clock))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 503
        assert (await client.get("/metrics")).status_code == 503
    engine.dispose()


async def test_make_server_serves_in_this_loop_on_an_ephemeral_port(state):
    server = make_server(create_app(state), "127.0.0.1:0")
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # up to 5 s
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    assert host == "127.0.0.1"
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"http://127.0.0.1:{port}/healthz")
    assert answer.text == "ok" and answer.headers["x-frame-options"] == "DENY"
    assert "server" not in answer.headers
    server.should_exit = True
    await asyncio.wait_for(task, 10)
