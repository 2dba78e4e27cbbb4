"""The statuspage monitor on real captured payloads, served over real local HTTP."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest
from aiohttp import web
from pydantic import ValidationError

from orchestrator.monitors.statuspage import StatuspageConfig, StatuspageMonitor
from tests.monitors.webfixtures import json_handler, spec

MAJOR = "github_summary_major_outage_2020-04-02.json"
CALM = "github_summary_operational_2019-12-30.json"


def monitor(url: str, **extra) -> StatuspageMonitor:
    return StatuspageMonitor(StatuspageConfig(name="gh", platform="github", kind="statuspage",
                                              url=url, **extra))


async def read(serve, client, payload, path="/api/v2/summary.json", **extra):
    base = await serve({path: json_handler(payload)})
    return await monitor(base + path, **extra).check(client)


async def test_whole_page_follows_the_indicator(serve, client):
    obs = await read(serve, client, spec(MAJOR))
    assert (obs.ok, obs.state, obs.maintenance) == (True, "partial_outage", False)
    assert obs.reason == ("indicator major: Partial System Outage; "
                          "incident: Incident on 2020-04-02 20:20 UTC")
    assert obs.detail["indicator"] == "major"
    assert obs.detail["incidents"] == [{"name": "Incident on 2020-04-02 20:20 UTC",
                                        "status": "investigating", "impact": "major",
                                        "shortlink": "http://stspg.io/n0wskg2n6bvy"}]
    assert obs.detail["components"]["Git Operations"] == "major_outage"
    assert "GitHub Pages" not in obs.detail["components"]  # operational ones are not listed
    assert obs.latency_ms is not None


async def test_operational_page(serve, client):
    obs = await read(serve, client, spec(CALM))
    assert (obs.ok, obs.state) == (True, "operational")
    assert obs.reason == "indicator none: All Systems Operational"


@pytest.mark.parametrize("components, state", [
    pytest.param(["git operations"], "major_outage", id="name-any-case"),
    pytest.param(["br0l2tvcx85d"], "partial_outage", id="id"),
    pytest.param(["GitHub Pages"], "operational", id="healthy-component"),
    pytest.param(["GitHub Pages", "GitHub Actions"], "partial_outage", id="worst-of-two"),
])
async def test_component_filter(serve, client, components, state):
    obs = await read(serve, client, spec(MAJOR), components=components)
    assert (obs.ok, obs.state) == (True, state)
    assert len(obs.detail["components"]) == len(components)


async def test_component_not_on_the_page_is_a_failed_poll(serve, client):
    obs = await read(serve, client, spec(MAJOR), components=["NA14"])
    assert obs.ok is False and obs.state == "unknown"
    assert obs.reason.startswith("component 'NA14' is not on the page (it has: Git Operations, "
                                 "API Requests, Webhooks")


async def test_status_json(serve, client):
    obs = await read(serve, client, spec("status_ymc-roleplay_operational.json"),
                     path="/api/v2/status.json")
    assert (obs.ok, obs.state) == (True, "operational")
    assert obs.detail["page"] == "Ymc RolePlay" and obs.detail["endpoint"] == "status"


@pytest.mark.parametrize("indicator, state", [
    ("none", "operational"), ("minor", "degraded"), ("major", "partial_outage"),
    ("critical", "major_outage"), ("maintenance", "maintenance"),
])
async def test_indicators(serve, client, indicator, state):
    payload = spec("status_ymc-roleplay_operational.json")
    payload["status"]["indicator"] = indicator
    obs = await read(serve, client, payload, path="/api/v2/status.json")
    assert obs.state == state


def test_components_on_status_json_are_refused_at_validation():
    with pytest.raises(ValidationError, match="status.json lists no components: use summary.json"):
        StatuspageConfig(name="gh", platform="github", kind="statuspage",
                         url="https://www.githubstatus.com/api/v2/status.json",
                         components=["API Requests"])


async def test_unresolved_incidents(serve, client):
    payload = {"page": spec(MAJOR)["page"], "incidents": spec(MAJOR)["incidents"]}
    obs = await read(serve, client, payload, path="/api/v2/incidents/unresolved.json")
    assert (obs.ok, obs.state) == (True, "partial_outage")
    assert obs.reason == "Incident on 2020-04-02 20:20 UTC (investigating, impact major)"


async def test_resolved_incidents_count_for_nothing(serve, client):
    obs = await read(serve, client, spec("github_incidents_2024-09-17.json"),
                     path="/api/v2/incidents.json")
    assert (obs.ok, obs.state, obs.reason) == (True, "operational", "no unresolved incidents")


async def test_incident_filtered_by_affected_component(serve, client):
    incidents = spec("github_incidents_2024-09-17.json")
    open_one = copy.deepcopy(incidents["incidents"][0])
    open_one.update(status="identified", resolved_at=None)
    payload = {"page": incidents["page"], "incidents": [open_one]}
    on_actions = await read(serve, client, payload, path="/api/v2/incidents/unresolved.json",
                            components=["Actions"])
    on_other = await read(serve, client, payload, path="/api/v2/incidents/unresolved.json",
                          components=["Codespaces"])
    assert on_actions.state == "partial_outage" and on_other.state == "operational"


def maintenance(status: str, components: list[dict]) -> dict:
    item = copy.deepcopy(spec(MAJOR)["incidents"][0])
    item.update(name="Database upgrade", status=status, impact="maintenance",
                scheduled_for="2020-04-02T20:00:00Z", scheduled_until="2020-04-02T22:00:00Z",
                components=components, incident_updates=[])
    return item


async def test_active_maintenance_document(serve, client):
    git = [c for c in spec(MAJOR)["components"] if c["name"] == "Git Operations"]
    payload = {"page": spec(MAJOR)["page"],
               "scheduled_maintenances": [maintenance("in_progress", git)]}
    path = "/api/v2/scheduled-maintenances/active.json"
    on_git = await read(serve, client, payload, path=path, components=["Git Operations"])
    on_pages = await read(serve, client, payload, path=path, components=["GitHub Pages"])
    assert (on_git.state, on_git.maintenance) == ("maintenance", True)
    assert on_git.detail["maintenances"][0]["name"] == "Database upgrade"
    assert (on_pages.state, on_pages.maintenance) == ("operational", False)


async def test_maintenance_in_progress_in_summary(serve, client):
    payload = spec(CALM)
    git = next(c for c in payload["components"] if c["name"] == "Git Operations")
    git["status"] = "under_maintenance"
    payload["scheduled_maintenances"] = [maintenance("in_progress", [git])]
    obs = await read(serve, client, payload, components=["Git Operations"])
    assert (obs.state, obs.maintenance) == ("maintenance", True)
    ignoring = await read(serve, client, payload, components=["Git Operations"],
                          include_maintenance=False)
    assert (ignoring.state, ignoring.maintenance) == ("operational", False)


async def test_maintenance_does_not_hide_an_unplanned_incident(serve, client):
    payload = spec(MAJOR)
    payload["scheduled_maintenances"] = [maintenance("in_progress", [])]
    obs = await read(serve, client, payload)
    assert (obs.state, obs.maintenance) == ("partial_outage", False)


class ConditionalPage:
    """A page answering 304 to matching If-None-Match / If-Modified-Since, recording headers."""

    def __init__(self, payload: dict, *, etag: bool = True):
        self.payload, self.etag, self.seen = payload, etag, []
        self.stamp = "Thu, 02 Apr 2020 20:37:08 GMT"

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.headers))
        body = json.dumps(self.payload).encode()
        tag = '"' + hashlib.sha1(body).hexdigest() + '"'
        stamp = self.stamp
        headers = {"ETag": tag} if self.etag else {}
        headers["Last-Modified"] = stamp
        if request.headers.get("If-None-Match") == tag or (
                not self.etag and request.headers.get("If-Modified-Since") == stamp):
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, content_type="application/json", headers=headers)


@pytest.mark.parametrize("etag", [True, False], ids=["etag", "last-modified"])
async def test_conditional_get_and_304(serve, client, etag):
    page = ConditionalPage(spec(MAJOR), etag=etag)
    base = await serve({"/api/v2/summary.json": page.handle})
    watcher = monitor(base + "/api/v2/summary.json", components=["Webhooks"])
    first = await watcher.check(client)
    second = await watcher.check(client)
    assert "If-None-Match" not in page.seen[0] and "If-Modified-Since" not in page.seen[0]
    assert page.seen[1].get("If-Modified-Since") == "Thu, 02 Apr 2020 20:37:08 GMT"
    assert ("If-None-Match" in page.seen[1]) is etag
    assert (second.ok, second.state, second.reason) == (True, first.state, first.reason)
    assert second.detail["not_modified"] is True and "not_modified" not in first.detail
    page.payload = spec(CALM)  # the page changes: the validators no longer match
    page.stamp = "Mon, 30 Dec 2019 10:00:00 GMT"
    third = await watcher.check(client)
    assert (third.state, third.detail.get("not_modified")) == ("operational", None)


async def test_state_survives_a_restart(serve, client):
    page = ConditionalPage(spec(MAJOR))
    base = await serve({"/api/v2/summary.json": page.handle})
    before = monitor(base + "/api/v2/summary.json")
    await before.check(client)
    saved = json.loads(json.dumps(before.state_dict()))  # as the store would keep it
    after = monitor(base + "/api/v2/summary.json")
    after.load_state(saved)
    obs = await after.check(client)
    assert page.seen[-1]["If-None-Match"] == before.validators.etag
    assert (obs.state, obs.detail["not_modified"]) == ("partial_outage", True)


async def test_304_without_an_earlier_reading_is_a_failed_poll(serve, client):
    async def always_304(_request):
        return web.Response(status=304)

    base = await serve({"/api/v2/summary.json": always_304})
    watcher = monitor(base + "/api/v2/summary.json")
    watcher.load_state({"etag": '"stale"', "last": "garbage"})
    obs = await watcher.check(client)
    assert obs.ok is False and obs.reason == "HTTP 304 but no earlier reading to repeat"


async def test_unexpected_shapes_are_failed_polls(serve, client):
    odd = await read(serve, client, {"hello": "world"})
    listed = await read(serve, client, [1, 2, 3])
    weird = await read(serve, client, {"components": [{"name": 5, "status": None}],
                                       "status": "??"})
    assert odd.reason == ("not a Statuspage v2 document: expected status, components, "
                          "incidents or scheduled_maintenances; found keys hello")
    assert listed.reason == "not a Statuspage v2 document: top level is a list"
    assert weird.ok is True and weird.state == "unknown"
