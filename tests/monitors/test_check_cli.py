"""`orchestrator check` against the local Statuspage-format sandbox, through click's CliRunner."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.cli.check import stored_states
from orchestrator.store.engine import make_engine
from orchestrator.store.migrate import upgrade
from orchestrator.store.schema import platform_states


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def write_config(tmp_path, sandbox, *, canary: str | None = None, extra_monitor: str = ""):
    meta, x = sandbox.statuspage_url("meta"), sandbox.statuspage_url("x")
    path = tmp_path / "config.yaml"
    path.write_text(f"""
storage: sqlite:///{tmp_path}/orchestrator.db
platforms:
  facebook: {{display_name: Facebook}}
  x: {{display_name: X}}
  mastodon: {{display_name: Mastodon}}
monitors:
  - {{name: fb-status, platform: facebook, kind: statuspage,
     url: "{meta}/api/v2/summary.json", components: [Facebook Pages]}}
  - {{name: x-status, platform: x, kind: statuspage,
     url: "{x}/api/v2/summary.json", components: [API]}}
{extra_monitor}
canaries:
  - {{url: "{canary or sandbox.url + '/'}"}}
""")
    return path


def run(*args):
    return CliRunner().invoke(cli, ["check", *args])


def test_all_operational_exits_0_with_a_table(sandbox, tmp_path):
    result = run("-c", str(write_config(tmp_path, sandbox)))
    assert result.exit_code == 0, result.output
    assert "Platform check" in result.output
    for text in ("Facebook", "operational", "fb-status", "Mastodon", "not monitored",
                 "canaries: 1 of 1 answered"):
        assert text in result.output


def test_an_outage_exits_3_and_says_which_monitor_saw_it(sandbox, tmp_path):
    sandbox.statuspage.set_component("Facebook Pages", "major_outage", page="meta")
    result = run("--json", "-c", str(write_config(tmp_path, sandbox)))
    assert result.exit_code == 3, result.output
    summary = json.loads(result.output)
    states = {p["platform"]: p["state"] for p in summary["platforms"]}
    assert states == {"facebook": "major_outage", "x": "operational", "mastodon": None}
    facebook = summary["platforms"][0]
    assert facebook["reason"] == ("policy any, 1 of 1 live: fb-status: major_outage for 1 poll "
                                  "(failure threshold 1): Facebook Pages major_outage")
    assert facebook["monitors"][0]["kind"] == "statuspage"
    assert facebook["latency_ms"] >= 0
    assert summary["all_operational"] is False and summary["local_network_problem"] is False


def test_a_dead_status_page_is_unknown(sandbox, tmp_path):
    dead = (f'  - {{name: li-status, platform: mastodon, kind: statuspage, '
            f'url: "{closed_port_url()}api/v2/status.json", timeout: 2s}}')
    result = run("--json", "-c", str(write_config(tmp_path, sandbox, extra_monitor=dead)))
    assert result.exit_code == 3
    mastodon = next(p for p in json.loads(result.output)["platforms"]
                    if p["platform"] == "mastodon")
    assert mastodon["state"] == "unknown"
    assert mastodon["monitors"][0]["ok"] is False
    assert "connection refused" in mastodon["monitors"][0]["reason"]


def test_every_canary_failing_is_a_local_network_problem_not_an_outage(sandbox, tmp_path):
    sandbox.statuspage.set_component("Facebook Pages", "major_outage", page="meta")
    path = write_config(tmp_path, sandbox, canary=closed_port_url())
    result = run("--json", "-c", str(path))
    assert result.exit_code == 3
    summary = json.loads(result.output)
    assert summary["local_network_problem"] is True
    assert {p["state"] for p in summary["platforms"] if p["monitored"]} == {"unknown"}
    table = run("-c", str(path))
    assert "local network problem: every canary failed" in table.output
    # The signal column still shows what the page said; the state column does not act on it.
    assert "│ Facebook │ unknown" in table.output


def test_last_change_comes_from_the_daemons_record(sandbox, tmp_path):
    path = write_config(tmp_path, sandbox)
    engine = make_engine(f"sqlite:///{tmp_path}/orchestrator.db")
    upgrade(engine)
    since = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(platform_states.insert().values(platform="x", state="operational",
                                                     since=since, updated_at=since))
    engine.dispose()
    result = run("--json", "-c", str(path))
    x = next(p for p in json.loads(result.output)["platforms"] if p["platform"] == "x")
    assert x["last_change"] == "2026-11-22 09:30:00+00:00"
    assert "2026-11-22 09:30:00 UTC" in run("-c", str(path)).output


def test_no_database_is_created_by_looking(tmp_path):
    assert stored_states(f"sqlite:///{tmp_path}/none.db") == {}
    assert not (tmp_path / "none.db").exists()


def test_a_bad_config_exits_1_with_located_problems(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("platforms:\n  facebook: {display_nme: Facebook}\n")
    result = run("-c", str(path))
    assert result.exit_code == 1
    assert "config.yaml:2:" in result.output and "display_nme" in result.output


def test_a_missing_config_is_a_usage_error(tmp_path):
    result = run("-c", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2 and "config file not found" in result.output
