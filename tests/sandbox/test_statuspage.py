"""The Statuspage sandbox: documents shaped like the real captures, flips, caching, failures."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from orchestrator.sandbox.spec import default_spec_dir
from orchestrator.sandbox.statuspage import CAPTURES, capture

ORIGINALS = default_spec_dir() / "statuspage"
INCIDENTS = "github_incidents_2024-09-17.json"
OUTAGE = "github_summary_major_outage_2020-04-02.json"


@pytest.fixture
def http(sandbox):
    with httpx.Client(base_url=sandbox.statuspage_url("meta"), timeout=5) as client:
        yield client


def keys(obj) -> list[str]:
    return list(obj)


@pytest.mark.parametrize("name", sorted(p.name for p in CAPTURES.glob("*.json")))
def test_packaged_captures_are_verbatim_copies(name):
    assert (CAPTURES / name).read_bytes() == (ORIGINALS / name).read_bytes()


def test_documents_have_the_captured_shapes(http, sandbox):
    sandbox.statuspage.page("meta").open_incident(
        "Pages cannot be published", components={"Facebook Pages": "major_outage"})
    summary = http.get("/api/v2/summary.json").json()
    outage = capture(OUTAGE)
    assert keys(summary) == keys(outage)
    assert keys(summary["page"]) == keys(outage["page"])
    assert keys(summary["status"]) == keys(outage["status"])
    newest = capture(INCIDENTS)["incidents"][0]
    assert all(keys(c) == keys(newest["components"][0]) for c in summary["components"])
    [incident] = summary["incidents"]
    assert keys(incident) == keys(newest)
    [update] = incident["incident_updates"]
    assert keys(update) == keys(newest["incident_updates"][0])
    assert keys(update["affected_components"][0]) == keys(
        newest["incident_updates"][0]["affected_components"][0])
    status = http.get("/api/v2/status.json").json()
    assert keys(status) == keys(capture("status_ymc-roleplay_operational.json"))
    assert keys(http.get("/api/v2/incidents.json").json()) == keys(capture(INCIDENTS))
    assert keys(http.get("/api/v2/incidents/unresolved.json").json()) == ["page", "incidents"]
    assert keys(http.get("/api/v2/components.json").json()) == ["page", "components"]
    active = http.get("/api/v2/scheduled-maintenances/active.json").json()
    assert keys(active) == ["page", "scheduled_maintenances"]


def test_flipping_a_component_moves_the_indicator(http, sandbox):
    def status():
        return http.get("/api/v2/summary.json").json()["status"]

    assert status() == {"indicator": "none", "description": "All Systems Operational"}
    sandbox.statuspage.set_component("Instagram", "degraded_performance")
    assert status()["indicator"] == "minor"
    sandbox.statuspage.set_component("Facebook Pages", "major_outage")
    assert status() == capture(OUTAGE)["status"]  # major, "Partial System Outage"
    for name in ("Instagram", "WhatsApp Business API", "Messenger"):
        sandbox.statuspage.set_component(name, "major_outage", page="meta")
    assert status()["indicator"] == "critical"
    sandbox.statuspage.set_indicator("minor", page="meta", description="Scheduled fun")
    assert status() == {"indicator": "minor", "description": "Scheduled fun"}
    sandbox.statuspage.set_indicator(None, page="meta")
    assert status()["indicator"] == "critical"
    components = {c["name"]: c["status"] for c in http.get("/api/v2/components.json").json()[
        "components"]}
    assert components["Facebook Pages"] == "major_outage"


def test_incident_opens_updates_and_resolves(http, sandbox):
    page = sandbox.statuspage.page("meta")
    incident_id = page.open_incident("Posting fails", impact="minor",
                                     components={"Facebook Pages": "partial_outage"})
    unresolved = http.get("/api/v2/incidents/unresolved.json").json()["incidents"]
    assert [i["id"] for i in unresolved] == [incident_id]
    assert unresolved[0]["components"][0]["status"] == "partial_outage"
    page.update_incident(incident_id, "monitoring", "A fix is out.")
    sandbox.statuspage.resolve_incident(incident_id, page="meta")
    summary = http.get("/api/v2/summary.json").json()
    assert summary["incidents"] == []
    assert summary["status"]["indicator"] == "none"
    [resolved] = http.get("/api/v2/incidents.json").json()["incidents"]
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    assert resolved["monitoring_at"]
    assert [u["status"] for u in resolved["incident_updates"]] == [
        "resolved", "monitoring", "investigating"]
    assert resolved["incident_updates"][0]["affected_components"][0]["new_status"] == "operational"


def test_maintenance_is_active_and_shown(http, sandbox):
    page = sandbox.statuspage.page("meta")
    page.open_incident("Database upgrade", impact="maintenance", status="in_progress",
                       components={"Messenger": "under_maintenance"}, maintenance=True)
    active = http.get("/api/v2/scheduled-maintenances/active.json").json()
    assert [m["name"] for m in active["scheduled_maintenances"]] == ["Database upgrade"]
    assert http.get("/api/v2/summary.json").json()["status"]["indicator"] == "maintenance"


def test_etag_gives_304_until_something_changes(http, sandbox):
    first = http.get("/api/v2/summary.json")
    etag = first.headers["etag"]
    again = http.get("/api/v2/summary.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    sandbox.statuspage.set_component("Facebook Pages", "major_outage")
    changed = http.get("/api/v2/summary.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert [r.status for r in sandbox.requests("statuspage")] == [200, 304, 200]


def test_if_modified_since(http, sandbox):
    last_modified = http.get("/api/v2/status.json").headers["last-modified"]
    assert http.get("/api/v2/status.json",
                    headers={"If-Modified-Since": last_modified}).status_code == 304
    sandbox.statuspage.set_component("Facebook Pages", "major_outage")  # same second, too
    assert http.get("/api/v2/status.json",
                    headers={"If-Modified-Since": last_modified}).status_code == 200


def test_scripted_500_html_truncated_and_slow(http, sandbox):
    script = sandbox.script
    script.fail("statuspage", 500, path_contains="/meta/")
    assert http.get("/api/v2/summary.json").status_code == 500
    script.html("statuspage")
    html = http.get("/api/v2/summary.json")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    script.truncated("statuspage")
    cut = http.get("/api/v2/summary.json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    script.slow("statuspage", 0.4)
    started = time.monotonic()
    assert http.get("/api/v2/summary.json").status_code == 200
    assert time.monotonic() - started >= 0.4
    assert http.get("/api/v2/summary.json").json()["page"]["name"] == "Meta"
    assert [r.outcome for r in sandbox.requests("statuspage")] == [
        "fail", "html", "truncated", "slow", None]


def test_scripted_failure_can_target_one_page(sandbox):
    sandbox.script.fail("statuspage", 503, times=None, path_contains="/x/")
    with httpx.Client(timeout=5) as client:
        assert client.get(sandbox.statuspage_url("x") + "/api/v2/status.json").status_code == 503
        assert client.get(sandbox.statuspage_url("meta") + "/api/v2/status.json").is_success


def test_unknown_page_and_document_are_404(http, sandbox):
    assert http.get("/api/v2/nothing.json").status_code == 404
    with httpx.Client(timeout=5) as client:
        assert client.get(sandbox.base_url("statuspage") + "/nope/api/v2/summary.json"
                          ).status_code == 404


def test_helpful_errors_for_typos(sandbox):
    with pytest.raises(KeyError, match="has no component 'Facebook'.*Facebook Pages"):
        sandbox.statuspage.page("meta").set_component("Facebook", "major_outage")
    with pytest.raises(KeyError, match="is on no page; pass page="):
        sandbox.statuspage.set_component("Nothing", "major_outage")
    with pytest.raises(ValueError, match="unknown component status 'down'"):
        sandbox.statuspage.set_component("Instagram", "down")
    with pytest.raises(KeyError, match="no status page 'facebook'"):
        sandbox.statuspage_url("facebook")


def test_added_page_with_a_shared_component_name_needs_page(sandbox):
    sandbox.statuspage.add_page("github", "GitHub", ["API", "Webhooks"])
    with pytest.raises(KeyError, match="is on x, github"):
        sandbox.statuspage.set_component("API", "major_outage")
    sandbox.statuspage.set_component("API", "major_outage", page="github")
    assert sandbox.statuspage.page("github").status()["indicator"] == "major"
    assert Path(sandbox.statuspage_url("github")).name == "github"
