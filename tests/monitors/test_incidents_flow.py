"""The whole detection path: a flipped sandbox status page → poller → detector → one incident."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from orchestrator.clock import FakeClock
from orchestrator.config import Config
from orchestrator.incidents import IncidentManager, IncidentOpened, IncidentResolved
from orchestrator.playbook.model import Trigger
from orchestrator.poller import Poller
from orchestrator.sandbox import Sandbox
from orchestrator.store.engine import make_engine
from orchestrator.store.migrate import upgrade
from orchestrator.store.schema import incident_events, incidents


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


async def test_status_page_outage_opens_and_resolves_one_incident(sqlite_engine):
    async with Sandbox() as sandbox:
        url = sandbox.statuspage_url("meta") + "/api/v2/summary.json"
        config = Config(
            platforms={"facebook": {"display_name": "Facebook", "hold": "0s"}},
            monitors=[{"name": "meta-status", "platform": "facebook", "kind": "statuspage",
                       "url": url, "components": ["Facebook Pages"]}],
            canaries=[{"url": sandbox.url + "/"}])
        clock = FakeClock()
        manager = IncidentManager(sqlite_engine, {"meta-outage": Trigger(
            platforms=["facebook"], sustained_for=timedelta(minutes=3))},
            labels={"facebook": "Facebook"}, clock=clock)
        actions = []

        def on_step(step):
            for change in step.changes:
                actions.extend(manager.handle(change, network_problem=step.state
                                              .local_network_problem))

        poller = Poller.from_config(config, on_step=on_step, clock=clock)
        try:
            async def polls(count: int) -> None:
                for _ in range(count):
                    clock.advance(30)
                    await poller.poll_once()
                    actions.extend(manager.tick(clock.now()))

            await polls(2)
            sandbox.statuspage.set_component("Facebook Pages", "major_outage", page="meta")
            await polls(4)     # detected on the 2nd poll; 3 minutes later not yet sustained
            assert actions == []
            await polls(4)
            sandbox.statuspage.set_component("Facebook Pages", "operational", page="meta")
            await polls(3)
        finally:
            await poller.aclose()
    opened, resolved = actions
    assert isinstance(opened, IncidentOpened) and isinstance(resolved, IncidentResolved)
    assert opened.playbooks == ("meta-outage",) and opened.state == "major_outage"
    with sqlite_engine.connect() as conn:
        [incident] = conn.execute(select(incidents)).all()
        kinds = [e.kind for e in conn.execute(select(incident_events)
                                              .order_by(incident_events.c.id))]
    assert incident.title == "Facebook: major outage" and incident.state == "resolved"
    assert kinds == ["opened", "resolved"]
