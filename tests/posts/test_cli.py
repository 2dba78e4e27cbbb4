"""`orchestrator posts` through click's CliRunner, on a SQLite store the config names."""

from __future__ import annotations

import getpass
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from orchestrator.cli import cli
from orchestrator.store.engine import make_engine
from orchestrator.store.schema import audit_log
from tests.posts.conftest import ENV, write_config

ME = f"user:{getpass.getuser()}"


@pytest.fixture
def setup(tmp_path, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ORCHESTRATOR_STORAGE", raising=False)
    db = tmp_path / "store.db"
    return write_config(tmp_path, storage=f"sqlite:///{db}"), db


def invoke(*args):
    return CliRunner().invoke(cli, ["posts", *args], catch_exceptions=False)


def listed(config, *extra):
    result = invoke("list", "--json", "-c", str(config), *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_add_list_pause_resume(setup):
    config, db = setup
    result = invoke("add", "-c", str(config), "--channel", "facebook-page",
                    "--at", "2030-01-01T09:00:00Z", "--text", "Happy new year",
                    "--campaign", "ny", "--tag", "promo", "--tag", "links-to-facebook")
    assert result.exit_code == 0, result.output
    assert result.output == ("post 1 scheduled on facebook-page at "
                             "2030-01-01T09:00:00+00:00\n")
    assert invoke("add", "-c", str(config), "--channel", "x", "--at", "2030-01-01T10:00:00Z",
                  "--text", "On X").exit_code == 0
    [post, _] = listed(config)
    assert (post["channel"], post["state"], post["tags"]) == (
        "facebook-page", "scheduled", ["promo", "links-to-facebook"])

    result = invoke("pause", "-c", str(config), "--platform", "facebook",
                    "--reason", "Facebook is down")
    assert (result.exit_code, result.output) == (0, "paused 1 post(s): 1\n")
    [paused] = listed(config, "--state", "paused")
    assert (paused["id"], paused["paused_by"], paused["pause_reason"]) == (
        1, ME, "Facebook is down")

    table = invoke("list", "-c", str(config))
    assert table.exit_code == 0 and "Facebook is down" in table.output
    assert "2 post(s)" in table.output

    result = invoke("resume", "-c", str(config), "--platform", "facebook", "--missed", "skip",
                    "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["resumed"] == [1]
    assert [p["state"] for p in listed(config)] == ["scheduled", "scheduled"]
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            actions = conn.execute(select(audit_log.c.actor, audit_log.c.action)
                                   .order_by(audit_log.c.id)).all()
    finally:
        engine.dispose()
    assert actions[-2:] == [(ME, "posts.pause"), (ME, "posts.resume.schedule")]


def test_a_held_post_is_decided_by_id(setup):
    config, _ = setup
    invoke("add", "-c", str(config), "--channel", "x", "--at", "2020-01-01T09:00:00Z",
           "--text", "Long overdue")
    invoke("pause", "-c", str(config), "--channel", "x", "--reason", "X outage")
    result = invoke("resume", "-c", str(config), "--channel", "x", "--missed", "hold")
    assert result.output.startswith("resumed 0 on time, 0 missed (hold), 0 pushed, "
                                    "0 skipped, 1 held")
    assert [p["state"] for p in listed(config)] == ["held"]
    result = invoke("resume", "-c", str(config), "--id", "1", "--missed", "publish_now")
    assert result.exit_code == 0 and "1 missed (publish_now)" in result.output
    [post] = listed(config)
    assert post["state"] == "scheduled" and post["publish_at"] > "2025"


def test_import_reports_bad_rows_and_exits_1(setup, tmp_path):
    config, _ = setup
    path = tmp_path / "calendar.csv"
    path.write_text("channel,publish_at,text\nx,2030-01-01T09:00:00Z,Hello\n"
                    "x,soon,Later\n")
    result = CliRunner().invoke(cli, ["posts", "import", str(path), "-c", str(config)])
    assert result.exit_code == 1
    assert f"{path}:3: bad time 'soon'" in result.output
    assert "imported 1 post(s); 1 row(s) with problems" in result.output


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["pause", "--reason", "r"], "say which posts: --channel", id="pause-nothing"),
    pytest.param(["resume"], "say which posts: --id, --run", id="resume-nothing"),
    pytest.param(["add", "--channel", "x", "--at", "noon", "--text", "t"], "bad time 'noon'",
                 id="bad-time"),
    pytest.param(["add", "--channel", "myspace", "--at", "2030-01-01T09:00Z", "--text", "t"],
                 "unknown channel 'myspace'", id="unknown-channel"),
])
def test_usage_errors_are_one_line_and_exit_2(setup, args, message):
    config, _ = setup
    result = CliRunner().invoke(cli, ["posts", *args, "-c", str(config)])
    assert result.exit_code == 2
    assert message in result.output and result.output.count("\n") == 1
