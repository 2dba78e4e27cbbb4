"""The push monitor: captured Statuspage webhook bodies and a generic JSON push."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from orchestrator.monitors.push import PushConfig, PushMonitor
from tests.monitors.webfixtures import spec

T0 = datetime(2017, 12, 26, 8, 0, tzinfo=UTC)
COMPONENT = "webhooks/component_status_update.json"
INCIDENT = "webhooks/incident_created.json"


def push(clock=lambda: T0, **extra) -> PushMonitor:
    config = PushConfig(name="meta-push", platform="facebook", kind="push",
                        token=SecretStr("s3cret"), **extra)
    return PushMonitor(config, clock=clock)


def test_component_update_whole_page_uses_the_page_indicator():
    obs = push().receive(spec(COMPONENT), T0)
    assert (obs.ok, obs.state, obs.maintenance) == (True, "maintenance", True)
    assert obs.reason == "Database component: operational → under_maintenance"
    assert obs.detail["component"] == {"name": "Database component",
                                       "old_status": "operational",
                                       "new_status": "under_maintenance"}


def test_component_update_with_a_filter():
    watched = push(components=["database component"])
    other = push(components=["Management Portal (example)"])
    assert watched.receive(spec(COMPONENT), T0).state == "maintenance"
    assert other.receive(spec(COMPONENT), T0).state == "operational"
    outage = spec(COMPONENT)
    outage["component_update"].update(old_status="under_maintenance", new_status="major_outage")
    assert watched.receive(outage, T0).state == "major_outage"


def test_incident_created():
    obs = push().receive(spec(INCIDENT), T0)
    assert (obs.ok, obs.state) == (True, "operational")  # impact none, indicator none
    assert obs.reason == "incident 'Database query delays' identified (impact none)"
    assert obs.detail["incident"]["shortlink"] == "http://stspg.io/646947c1e"


def test_incident_components_feed_the_filter():
    body = spec(INCIDENT)
    body["page"]["status_indicator"] = "major"
    body["incident"]["components"][0]["status"] = "partial_outage"
    filtered = push(components=["zvdm6f7gf76j"]).receive(body, T0)
    whole = push().receive(copy.deepcopy(body), T0)
    assert (filtered.state, whole.state) == ("partial_outage", "partial_outage")


async def test_check_repeats_the_last_push_until_stale():
    now = [T0]
    monitor = push(clock=lambda: now[0], stale_after="1h")
    monitor.receive(spec(COMPONENT), T0)
    now[0] = T0 + timedelta(minutes=30)
    repeated = await monitor.check(None)
    assert (repeated.ok, repeated.state, repeated.at) == (True, "maintenance", now[0])
    now[0] = T0 + timedelta(hours=2)
    stale = await monitor.check(None)
    assert (stale.ok, stale.state) == (False, "unknown")
    assert stale.reason == "no push for more than 1h (last at 2017-12-26T08:00:00+00:00)"


async def test_nothing_pushed_yet():
    obs = await push().check(None)
    assert (obs.ok, obs.reason) == (False, "no push received yet")


async def test_state_survives_a_restart():
    first = push(components=["Database component"])
    first.receive(spec(COMPONENT), T0)
    saved = json.loads(json.dumps(first.state_dict()))
    second = push(components=["Database component"])
    second.load_state(saved)
    assert (await second.check(None)).state == "maintenance"
    second.load_state({"last": {"state": "on fire", "at": "2017-12-26T08:00:00+00:00"}})
    assert second.last is None


def test_generic_json_push():
    monitor = push(format="json", state_from={"path": "data.status",
                                              "map": {"down": "major_outage", "ok": "operational"}})
    assert monitor.receive({"data": {"status": "down"}}, T0).state == "major_outage"
    assert monitor.receive({"data": {"status": "weird"}}, T0).state == "unknown"
    missing = monitor.receive({"data": {}}, T0)
    assert (missing.ok, missing.reason) == (False, "unusable push: data.status is not in "
                                                   "the response")
    assert monitor.last.state == "unknown"  # the useless body changed nothing


@pytest.mark.parametrize("payload, reason", [
    pytest.param([1, 2], "unusable push: expected a JSON object, got list", id="list"),
    pytest.param({"page": {"id": "x"}}, "unusable push: a Statuspage webhook carries "
                 "component_update or incident; this one has neither", id="neither"),
    pytest.param({"component_update": {}, "component": "db"},
                 "unusable push: component_update without a component", id="odd-component"),
])
def test_bad_pushes(payload, reason):
    obs = push().receive(payload, T0)
    assert (obs.ok, obs.state, obs.reason) == (False, "unknown", reason)

