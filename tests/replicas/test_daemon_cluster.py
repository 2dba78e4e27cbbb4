"""Three real `orchestrator run` processes on one PostgreSQL schema: one polls, a successor
takes over after a SIGKILL, and an outage after that opens one incident and sends one SMS
per VIP, counted at the sandbox.

Each replica's monitor sends its own `X-Replica` header, so the sandbox's recorded
Statuspage requests say which replica polled.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from orchestrator.audiences import import_contacts
from orchestrator.config import Config
from orchestrator.sandbox import Sandbox
from orchestrator.store.engine import make_engine
from orchestrator.store.migrate import upgrade
from orchestrator.store.schema import incidents, playbook_runs
from orchestrator.wiring import DEFAULT_LEASE_TTL
from tests.replicas.cluster import wait_for
from tests.service.daemon import Daemon

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(240)]

SECRETS = {"SVC_TWILIO_SID": "AC" + "0" * 32, "SVC_TWILIO_TOKEN": "test-token"}
VIPS = ["+14155550100", "+14155550101", "+14155550102"]
# A short TTL once the config has a `cluster.lease_ttl` key; until then the default.
SHORT_TTL = "cluster" in Config.model_fields
TTL = 3.0 if SHORT_TTL else DEFAULT_LEASE_TTL.total_seconds()
RENEW = TTL / 3

PLAYBOOK = """\
name: facebook-down
trigger: {platforms: [facebook], states: [partial_outage, major_outage]}
templates:
  started: "{{ platform.display_name }} is down; we are on it."
on_start:
  - notify: {channel: sms, audience: vip, template: started}
"""


def write_replica_config(folder: Path, name: str, url: str, sandbox: Sandbox) -> Path:
    """A replica's config: the shared schema, its own port and its own monitor header."""
    folder.mkdir()
    (folder / "playbooks").mkdir()
    (folder / "playbooks" / "facebook.yaml").write_text(PLAYBOOK)
    cluster = "cluster: {lease_ttl: 3s}\n" if SHORT_TTL else ""
    path = folder / "config.yaml"
    path.write_text(f"""\
storage: "{url}"
http: {{listen: "127.0.0.1:0"}}
{cluster}platforms:
  facebook: {{display_name: Facebook, hold: 1s}}
  twilio: {{display_name: Twilio}}
monitors:
  - {{name: facebook-status, platform: facebook, kind: statuspage, interval: 1s, timeout: 1s,
     url: "{sandbox.statuspage_url('meta')}/api/v2/summary.json", components: [Facebook Pages],
     headers: {{X-Replica: {name}}}}}
channels:
  sms:
    kind: twilio
    account_sid: ${{SVC_TWILIO_SID}}
    auth_token: ${{SVC_TWILIO_TOKEN}}
    from: "+15005550006"
    base_url: "{sandbox.base_url('twilio')}"
audiences:
  vip: {{source: store, description: SMS first}}
""")
    return path


@pytest.fixture
def store_url(postgres_url_factory, tmp_path):
    url = postgres_url_factory()
    engine = make_engine(url)
    try:
        upgrade(engine)
        contacts = tmp_path / "vip.csv"
        contacts.write_text("name,phone\n" + "".join(f"VIP {i},{p}\n"
                                                     for i, p in enumerate(VIPS)))
        assert import_contacts(engine, contacts, "vip").imported == len(VIPS)
        yield url
    finally:
        engine.dispose()


@pytest.fixture
def replicas(store_url, tmp_path):
    with Sandbox() as sandbox:
        procs: dict[str, Daemon] = {}
        try:
            for name in ("r1", "r2", "r3"):
                config = write_replica_config(tmp_path / name, name, store_url, sandbox)
                procs[name] = Daemon(config, SECRETS)
            yield sandbox, procs
        finally:
            for daemon in procs.values():
                daemon.kill()


def polls_by_replica(sandbox: Sandbox) -> Counter:
    return Counter(r.headers.get("x-replica") for r in sandbox.requests("statuspage"))


def elected(procs: dict[str, Daemon], exclude: str | None = None) -> tuple[str, dict] | None:
    for name, daemon in procs.items():
        if name != exclude and daemon.proc.poll() is None:
            found = daemon.events("leader.elected")
            if found:
                return name, found[-1]
    return None


def counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return (conn.execute(select(func.count()).select_from(incidents)).scalar(),
                    conn.execute(select(func.count()).select_from(playbook_runs)).scalar())
    finally:
        engine.dispose()


def test_one_replica_polls_a_successor_takes_over_and_acts_once(replicas, store_url):
    sandbox, procs = replicas
    for daemon in procs.values():
        daemon.event("service.started", timeout=30)
    first, line = wait_for(lambda: elected(procs), TTL + 10, "a leader")
    wait_for(lambda: polls_by_replica(sandbox)[first] >= 3, 15, "polls from the leader")
    polls = polls_by_replica(sandbox)
    assert polls[first] >= 2 and set(polls) == {first}, (polls, "".join(procs[first].raw[-30:]))

    procs[first].kill()
    killed_at = time.monotonic()
    second, line2 = wait_for(lambda: elected(procs, exclude=first), TTL + RENEW + 10,
                             "a new leader", every=0.05)
    took = time.monotonic() - killed_at
    # The lease lapses at most TTL after the last renewal; followers ask every TTL/3.
    print(f"takeover after SIGKILL: {took:.2f} s (TTL {TTL:g} s)")
    assert took <= TTL + RENEW + 1.0, f"new leader after {took:.2f}s"
    assert line2["token"] == line["token"] + 1
    before = polls_by_replica(sandbox)
    wait_for(lambda: polls_by_replica(sandbox)[second] >= before[second] + 2, 10,
             "polls from the new leader")
    third = ({"r1", "r2", "r3"} - {first, second}).pop()
    assert polls_by_replica(sandbox)[third] == 0
    assert polls_by_replica(sandbox)[first] == before[first]  # the dead one stays dead

    sandbox.statuspage.set_component("Facebook Pages", "major_outage", page="meta")
    try:
        wait_for(lambda: len(sandbox.twilio.messages()) >= len(VIPS), 30, "the VIP SMS")
    except AssertionError as exc:
        procs[second].events("x")
        raise AssertionError(f"{exc}\n" + "".join(procs[second].raw[-40:])) from None
    time.sleep(3)  # room for a duplicate to show up
    sent = Counter(m["to"] for m in sandbox.twilio.messages())
    assert sent == Counter(VIPS)
    assert counts(store_url) == (1, 1)
    assert set(polls_by_replica(sandbox)) == {first, second}
    for name in (second, third):
        assert procs[name].stop(timeout=30) == 0
    assert procs[second].events("leader.deposed")
