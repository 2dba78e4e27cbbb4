"""Push webhooks: the path's token picks the push monitor; its observation reaches the daemon."""

from __future__ import annotations

from pydantic import SecretStr

from orchestrator.monitors.push import PushConfig, PushMonitor
from tests.monitors.webfixtures import spec, spec_bytes
from tests.web.conftest import T0
from tests.web.seed import snapshot


def monitors(clock):
    statuspage = PushMonitor(PushConfig(name="meta-push", platform="facebook", kind="push",
                                        token=SecretStr("meta-secret")), clock=clock.now)
    generic = PushMonitor(PushConfig(
        name="na14-push", platform="salesforce-na14", kind="push", format="json",
        token=SecretStr("na14-secret"),
        state_from={"path": "status", "map": {"OK": "operational", "DOWN": "major_outage"}}),
        clock=clock.now)
    return [statuspage, generic]


def wire(state, clock):
    received = []
    state.push_monitors = monitors(clock)
    state.on_push = received.append
    return received


async def test_statuspage_webhook_reaches_the_daemon(client, state, clock):
    received = wire(state, clock)
    body = spec("webhooks/component_status_update.json")
    body["component_update"]["new_status"] = "major_outage"
    body["page"]["status_indicator"] = "critical"
    answer = await client.post("/hooks/push/meta-secret", json=body)
    assert answer.status_code == 202
    assert answer.json()["state"] == "major_outage"
    [observation] = received
    assert (observation.monitor, observation.platform, observation.at) == \
        ("meta-push", "facebook", T0)
    assert state.push_monitors[0].last == observation


async def test_async_callback_and_generic_json(client, state, clock):
    seen = []

    async def on_push(observation):
        seen.append(observation.state)
    state.push_monitors, state.on_push = monitors(clock), on_push
    answer = await client.post("/hooks/push/na14-secret", json={"status": "DOWN"})
    assert answer.status_code == 202
    assert seen == ["major_outage"]


async def test_unknown_token_is_404_and_nothing_moves(client, state, clock, engine):
    received = wire(state, clock)
    before = snapshot(engine)
    for token in ("meta-secre", "meta-secretx", "META-SECRET", "x"):
        answer = await client.post(f"/hooks/push/{token}",
                             content=spec_bytes("webhooks/incident_created.json"))
        assert answer.status_code == 404
    assert received == [] and all(m.last is None for m in state.push_monitors)
    assert snapshot(engine) == before


async def test_bad_bodies(client, state, clock):
    received = wire(state, clock)
    assert (await client.post("/hooks/push/meta-secret", content=b"{nope")).status_code == 400
    answer = await client.post("/hooks/push/meta-secret", json={"page": {}})
    assert answer.status_code == 422 and not answer.json()["ok"]
    huge = b"[" + b"0," * 600_000 + b"0]"
    assert (await client.post("/hooks/push/meta-secret", content=huge)).status_code == 413
    assert received == []


async def test_no_push_monitors_means_every_token_is_unknown(client):
    assert (await client.post("/hooks/push/anything", json={})).status_code == 404
    assert (await client.get("/hooks/push/anything")).status_code == 405
