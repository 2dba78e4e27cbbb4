"""The statuspage monitor against the sandbox's flippable Statuspage server (real uvicorn)."""

from __future__ import annotations

from orchestrator.monitors.statuspage import StatuspageConfig, StatuspageMonitor
from orchestrator.sandbox import Sandbox


def watch(sandbox: Sandbox, document: str = "summary.json", **extra) -> StatuspageMonitor:
    url = f"{sandbox.statuspage_url('meta')}/api/v2/{document}"
    return StatuspageMonitor(StatuspageConfig(name="meta-status", platform="facebook",
                                              kind="statuspage", url=url, timeout="2s", **extra))


async def test_flipping_a_component_and_conditional_gets(sandbox, client):
    pages = watch(sandbox, components=["facebook pages"])
    assert (await pages.check(client)).state == "operational"
    unchanged = await pages.check(client)
    assert unchanged.detail.get("not_modified") is True
    sandbox.statuspage.set_component("Facebook Pages", "major_outage", page="meta")
    down = await pages.check(client)
    assert (down.ok, down.state, down.detail.get("not_modified")) == (True, "major_outage", None)
    assert down.detail["components"] == {"Facebook Pages": "major_outage"}
    statuses = [r.status for r in sandbox.requests("statuspage")]
    assert statuses == [200, 304, 200]


async def test_other_components_do_not_leak_into_a_filter(sandbox, client):
    sandbox.statuspage.set_component("Instagram", "partial_outage", page="meta")
    pages = await watch(sandbox, components=["Facebook Pages"]).check(client)
    whole = await watch(sandbox).check(client)
    assert pages.state == "operational"
    assert (whole.state, whole.detail["indicator"]) == ("degraded", "minor")


async def test_incident_and_recovery(sandbox, client):
    incident = sandbox.statuspage.open_incident(
        "Facebook Pages unavailable", page="meta", impact="critical",
        components={"Facebook Pages": "major_outage"})
    unresolved = watch(sandbox, "incidents/unresolved.json", components=["Facebook Pages"])
    obs = await unresolved.check(client)
    assert (obs.state, obs.detail["incidents"][0]["name"]) == (
        "major_outage", "Facebook Pages unavailable")
    assert obs.detail["incidents"][0]["shortlink"].startswith("https://stspg.io/")
    sandbox.statuspage.resolve_incident(incident, page="meta")
    assert (await unresolved.check(client)).state == "operational"


async def test_maintenance_in_progress(sandbox, client):
    sandbox.statuspage.open_incident(
        "Messenger database upgrade", page="meta", maintenance=True, status="in_progress",
        impact="maintenance", components={"Messenger": "under_maintenance"})
    messenger = await watch(sandbox, components=["Messenger"]).check(client)
    active = await watch(sandbox, "scheduled-maintenances/active.json",
                         components=["Messenger"]).check(client)
    assert (messenger.state, messenger.maintenance) == ("maintenance", True)
    assert (active.state, active.maintenance) == ("maintenance", True)


async def test_scripted_html_and_truncated_answers(sandbox, client):
    monitor = watch(sandbox)
    sandbox.script.html("statuspage")
    html = await monitor.check(client)
    sandbox.script.truncated("statuspage")
    truncated = await monitor.check(client)
    assert html.ok is False and html.reason.startswith("expected JSON, got text/html")
    assert truncated.ok is False and truncated.state == "unknown"
    assert (await monitor.check(client)).state == "operational"
