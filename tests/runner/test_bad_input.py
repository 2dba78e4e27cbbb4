"""Bad input at run time: disabled channels, render errors, approvals that time out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.playbook.runner import RunnerError
from tests.runner.conftest import make_config, playbook_from_text
from tests.runner.helpers import World, step, steps

DISABLED = """\
  ops-slack: {kind: slack, webhook_url: "${HOOK_SECRET}", enabled: false}
"""

BROKEN = """\
name: broken
vars: {detail: null}
templates:
  ok: "All good: {{ vars.detail }}"
  bad: "Split: {{ vars.detail.split()[5] }}"
on_start:
  - post: {to: [ops-slack], text: "to a disabled channel"}
  - notify: {channel: sms, audience: vip, template: ok, fallback: [email]}
  - post: {to: [mastodon], template: bad}
    continue_on_error: true
  - post: {to: [linkedin], template: bad}
  - post: {to: [x], template: ok}
"""


def manual_world(engine, tmp_path, clock, text: str) -> World:
    config = make_config(tmp_path, extra_channels=DISABLED)
    pb = playbook_from_text(tmp_path, config, text)
    return World(engine, config, {pb.name: pb}, clock)


def test_disabled_channel_and_render_errors(engine, tmp_path, clock):
    w = manual_world(engine, tmp_path, clock, BROKEN)
    _, run_id = w.runner.trigger_manual("broken", vars={"detail": "one two"}, by="test")
    got = [(s.step_index, s.state, s.reason) for s in steps(engine, run_id)]
    assert got[0] == (0, "skipped", "channel 'ops-slack' is disabled in the config")
    assert got[1] == (1, "done", "2 messages queued for sms")
    assert got[2][:2] == (2, "failed")              # continue_on_error: the run goes on
    assert got[2][2] == ("template 'bad' failed to render for channel 'mastodon': "
                         "UndefinedError: list object has no element 5")
    assert got[3][:2] == (3, "failed")              # not allowed to continue: the phase ends
    assert got[4] == (4, "skipped", "not run: step 3 of on_start failed")
    assert sorted(r.channel for r in w.rows()) == ["sms", "sms"]
    w.runner.resolve(1, by="test")
    assert w.runner.advance(run_id) == "failed"     # and says why in the timeline


def test_notify_routes_to_its_fallback_when_the_platform_is_down(engine, tmp_path, clock):
    w = manual_world(engine, tmp_path, clock, BROKEN)
    w.change("twilio", None, "major_outage")
    w.runner.trigger_manual("broken", vars={"detail": "x"}, by="test")
    notify = step(engine, 1, "on_start", 1)
    assert notify.reason == ("2 messages queued for email; skipped: channel 'sms' depends on "
                             "a platform that is down (twilio is major outage)")
    assert {r.channel for r in w.rows()} == {"email"}


def test_required_and_unknown_vars_are_refused(engine, tmp_path, clock):
    w = manual_world(engine, tmp_path, clock, BROKEN)
    with pytest.raises(RunnerError, match=r"required var not given: detail \(use --var "
                                          r"detail=\.\.\.\)"):
        w.runner.trigger_manual("broken", by="test")
    with pytest.raises(RunnerError, match="unknown var 'detial'.*Did you mean 'detail'"):
        w.runner.trigger_manual("broken", vars={"detial": "x"}, by="test")
    with pytest.raises(RunnerError, match="unknown playbook 'brokn'"):
        w.runner.trigger_manual("brokn", by="test")


APPROVAL = """\
name: gated
on_start:
  - approval: {{message: "Send it?", timeout: 30m, on_timeout: {action}}}
  - post: {{to: [mastodon], text: "sent"}}
every:
  interval: 1h
  steps:
    - post: {{to: [mastodon], text: "update {{{{ run.update_number }}}}"}}
on_resolve:
  - post: {{to: [mastodon], text: "over"}}
"""


@pytest.mark.parametrize("action", ["abort", "proceed"])
def test_approval_timeout(engine, tmp_path, clock, action):
    w = manual_world(engine, tmp_path, clock, APPROVAL.format(action=action))
    incident_id, run_id = w.runner.trigger_manual("gated", by="test")
    assert w.runner.advance(run_id) == "waiting_approval"
    w.runner = w.new_runner()                       # a restart keeps waiting
    w.advance(timedelta(minutes=29))
    assert w.runner.advance(run_id) == "waiting_approval" and w.rows() == []
    w.advance(timedelta(minutes=1))
    gate = step(engine, run_id, "on_start", 0)
    assert gate.reason == f"approval timed out; on_timeout: {action}"
    if action == "abort":
        assert (gate.state, w.runner.advance(run_id)) == ("failed", "aborted")
        w.advance(timedelta(hours=3))
        w.runner.resolve(incident_id, by="test")
        assert w.rows() == []                       # aborted: nothing, not even on_resolve
        with pytest.raises(RunnerError, match="not waiting for an approval"):
            w.runner.approve(run_id, "late")
    else:
        assert [r.body for r in w.rows()] == ["sent"]
        w.advance(timedelta(hours=1))
        w.runner.resolve(incident_id, by="test")
        assert [r.body for r in w.rows()] == ["sent", "update 1", "over"]
        assert w.runner.advance(run_id) == "completed"


def test_approve_continues_the_run(engine, tmp_path, clock):
    w = manual_world(engine, tmp_path, clock, APPROVAL.format(action="abort"))
    _, run_id = w.runner.trigger_manual("gated", by="test")
    assert w.runner.approve(run_id, "jane") == "running"
    assert step(engine, run_id, "on_start", 0).reason == "approved by jane"
    assert [r.body for r in w.rows()] == ["sent"]
