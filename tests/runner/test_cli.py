"""The incident commands: plan writes nothing, trigger --dry-run, incidents, approve errors."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select

from orchestrator.audiences import import_contacts, suppress
from orchestrator.cli import cli
from orchestrator.store.schema import metadata, scheduled_posts
from orchestrator.store.types import utcnow
from tests.runner.conftest import ENV, PLAYBOOKS, write_config


@pytest.fixture
def setup(engine, db_url, tmp_path, monkeypatch):
    path = write_config(tmp_path, storage=db_url)
    (tmp_path / "playbooks").mkdir()
    for name in ("meta-outage.yaml", "security-incident.yaml"):
        shutil.copy(PLAYBOOKS / name, tmp_path / "playbooks")
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "vip.csv").write_text("name,phone,email,timezone\n"
                                      "Ana,+14155550101,ana@example.com,America/New_York\n"
                                      "Bo,+14155550102,bo@example.com,Asia/Tokyo\n"
                                      "Cy,+14155550103,cy@example.com,Europe/Paris\n")
    import_contacts(engine, tmp_path / "vip.csv", "vip")
    suppress(engine, "sms", "+14155550103", "STOP")
    later = utcnow() + timedelta(hours=1)
    with engine.begin() as conn:
        conn.execute(insert(scheduled_posts), [
            {"channel": "facebook-page", "text": "Autumn sale!", "publish_at": later},
            {"channel": "instagram", "text": "New arrivals", "publish_at": later},
            {"channel": "x", "text": "Hello from X", "publish_at": later}])
    return path


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def snapshot(engine) -> dict:
    with engine.connect() as conn:
        return {t.name: sorted(map(tuple, conn.execute(select(t)).all()), key=repr)
                for t in metadata.sorted_tables}


def test_plan_changes_nothing_and_counts_after_suppressions(engine, setup):
    before = snapshot(engine)
    result = invoke("plan", "meta-outage", "--platform", "facebook", "-c", str(setup), "--json")
    assert result.exit_code == 0, result.output
    assert snapshot(engine) == before
    plan = json.loads(result.output)
    assert [p["channel"] for p in plan["posts_to_pause"]] == ["facebook-page", "instagram"]
    assert plan["surviving"] == ["x", "linkedin", "mastodon"]
    sms = next(s for s in plan["steps"] if s["detail"] == "vip over sms")
    [delivery] = sms["deliveries"]
    assert (delivery["members"], delivery["suppressed"], delivery["messages"]) == (3, 1, 2)
    channels = [m["channel"] for m in plan["messages"]]
    assert len(channels) == len(set(zip(channels, [m["body"] for m in plan["messages"]],
                                         strict=True)))
    text = invoke("plan", "meta-outage", "--platform", "facebook", "-c", str(setup)).output
    assert "Posts that would pause (2)" in text and "twilio-token" not in text
    assert snapshot(engine) == before


def test_trigger_dry_run_writes_nothing_and_needs_a_platform(engine, setup):
    before = snapshot(engine)
    result = invoke("trigger", "security-incident", "--dry-run", "-c", str(setup),
                    "--var", "responder=Jane", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["missing_vars"] == ["what", "actions"]
    assert snapshot(engine) == before
    result = invoke("plan", "meta-outage", "-c", str(setup))
    assert result.exit_code == 2
    assert "say which platform is down: --platform facebook | instagram" in result.output


def test_trigger_refuses_missing_vars(setup):
    result = invoke("trigger", "security-incident", "-c", str(setup))
    assert result.exit_code == 2
    assert "required vars not given: responder, what, actions" in result.output


def test_incidents_update_show_resolve(engine, setup):
    pytest.importorskip("orchestrator.posts", reason="the content calendar is not built yet")
    result = invoke("trigger", "meta-outage", "--platform", "facebook", "-c", str(setup),
                    "--json")
    out = json.loads(result.output)
    assert [(s["phase"], s["state"]) for s in out["steps"]] == [("on_start", "done")] * 4 + [
        ("every", "running")]                       # the cadence marker: updates are due
    incident = str(out["incident_id"])
    assert invoke("incidents", "update", incident, "-m", "Meta says a fix is rolling out",
                  "-c", str(setup)).exit_code == 0
    listed = json.loads(invoke("incidents", "list", "--json", "-c", str(setup)).output)
    assert [(i["id"], i["state"]) for i in listed] == [(int(incident), "open")]
    assert invoke("incidents", "resolve", incident, "-c", str(setup)).exit_code == 0
    shown = json.loads(invoke("incidents", "show", incident, "--json", "-c", str(setup)).output)
    assert shown["state"] == "resolved"
    [run] = shown["runs"]
    assert run["state"] == "completed"
    assert [e["kind"] for e in shown["timeline"]] == [
        "opened", "run_started", "update", "resolved", "run_completed"]
    with engine.connect() as conn:
        paused = conn.execute(select(scheduled_posts.c.state)).scalars().all()
    assert "paused" not in paused
    again = invoke("incidents", "resolve", incident, "-c", str(setup))
    assert again.exit_code == 1 and "already resolved" in again.output
    assert invoke("approve", "999", "-c", str(setup)).exit_code == 1
