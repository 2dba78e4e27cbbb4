"""Schedules held by SendGrid and Twilio, paused and resumed through the real SDKs against the
sandboxes; every recorded request checked against the providers' OpenAPI documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.adapters import schedule_post
from orchestrator.adapters.sendgrid_scheduled import build_mail
from orchestrator.adapters.twilio_scheduled import create_arguments, send_time
from orchestrator.loader import load_config_file
from orchestrator.posts import Selector, list_posts, pause_posts, resume_posts
from tests.posts.conftest import ENV, MESSAGING_SERVICE, write_config

# The sandboxes judge schedules by the real clock (Twilio: 15 minutes to 35 days ahead).
NOW = datetime.now(UTC).replace(microsecond=0)
SEND_AT = NOW + timedelta(hours=2)
MAIL = {"to": ["ana@example.com", "bo@example.com"], "subject": "Spring menu"}
SMS = {"to": "+15005550010"}




@pytest.fixture
def config(tmp_path, sandbox):
    return load_config_file(write_config(tmp_path, base=sandbox.url), env=ENV)


@pytest.fixture(params=["sqlite"])
def db_url(request, tmp_path):
    # The adapters' logic is the same on both databases; the calendar tests cover PostgreSQL.
    return f"sqlite:///{tmp_path / 'store.db'}"


def calls(sandbox, provider):
    return [(r.method, r.path, r.status) for r in sandbox.requests(provider)]


def mail_post(engine, config, send_at=SEND_AT):
    return schedule_post(engine, config, channel="email", text="Our spring menu is out.",
                         publish_at=send_at, external_kind="sendgrid_batch", detail=MAIL,
                         by="tester")


def test_sendgrid_schedule_pause_and_resume_on_time(engine, config, sandbox, spec):
    post_id = mail_post(engine, config)
    [post] = list_posts(engine)
    batch = post.external_ref
    [mail] = sandbox.sendgrid.mails
    assert (mail["batch_id"], mail["send_at"]) == (batch, int(SEND_AT.timestamp()))
    assert sorted(mail["recipients"]) == MAIL["to"]

    assert pause_posts(engine, config, Selector(channels=("email",)), reason="SendGrid incident",
                       by="ops", now=NOW) == [post_id]
    assert sandbox.sendgrid.scheduled_sends == {batch: "pause"}
    assert sandbox.sendgrid.delivered(SEND_AT.timestamp() + 1) == []

    report = resume_posts(engine, config, selector=Selector(channels=("email",)),
                          missed="skip", by="ops", now=NOW + timedelta(minutes=30))
    assert report.resumed == (post_id,)
    assert sandbox.sendgrid.scheduled_sends == {}
    assert [m["batch_id"] for m in sandbox.sendgrid.delivered(SEND_AT.timestamp() + 1)] == [batch]
    assert calls(sandbox, "sendgrid") == [
        ("POST", "/v3/mail/batch", 201), ("POST", "/v3/mail/send", 202),
        ("POST", "/v3/user/scheduled_sends", 201),
        ("DELETE", f"/v3/user/scheduled_sends/{batch}", 204)]
    spec.check(sandbox.requests("sendgrid"))


def test_sendgrid_missed_sends_keep_their_spacing_or_are_canceled(engine, config, sandbox,
                                                                   spec):
    first = mail_post(engine, config)
    second = mail_post(engine, config, SEND_AT + timedelta(minutes=30))
    pause_posts(engine, config, Selector(channels=("email",)), reason="r", by="ops", now=NOW)
    refs = {p.id: p.external_ref for p in list_posts(engine)}
    after = SEND_AT + timedelta(minutes=40)  # the pause outlived both send times
    report = resume_posts(engine, config, selector=Selector(channels=("email",)),
                          missed="next_slot", by="ops", now=after)
    assert report.rescheduled == ((first, after), (second, after + timedelta(minutes=30)))
    posts = {p.id: p for p in list_posts(engine)}
    # The first goes now: lifting the pause sends it (its time has passed). The second
    # cannot be moved inside SendGrid: its batch is canceled and the mail scheduled anew.
    assert posts[first].external_ref == refs[first]
    new = posts[second].external_ref
    assert new != refs[second]
    assert sandbox.sendgrid.scheduled_sends == {refs[second]: "cancel"}
    assert [(m["batch_id"], m["send_at"]) for m in sandbox.sendgrid.mails][-1] == (
        new, int((after + timedelta(minutes=30)).timestamp()))

    third = mail_post(engine, config)
    pause_posts(engine, config, Selector(channels=("email",)), reason="r", by="ops", now=NOW)
    ref = {p.id: p.external_ref for p in list_posts(engine)}[third]
    resume_posts(engine, config, ids=[third], missed="skip", by="ops", now=after)
    assert sandbox.sendgrid.scheduled_sends[ref] == "cancel"
    assert {p.id: p.state for p in list_posts(engine)}[third] == "skipped"
    spec.check(sandbox.requests("sendgrid"))


def test_sendgrid_refusing_the_resume_holds_the_post(engine, config, sandbox):
    post_id = mail_post(engine, config)
    pause_posts(engine, config, Selector(channels=("email",)), reason="r", by="ops", now=NOW)
    sandbox.script.fail("sendgrid", 500, method="DELETE")
    report = resume_posts(engine, config, ids=[post_id], missed="publish_now", by="ops",
                          now=NOW)
    assert report.held == (post_id,) and report.resumed == ()
    [(failed, error)] = report.errors
    assert failed == post_id and "sendgrid answered 500" in error
    [post] = list_posts(engine)
    assert post.state == "held" and post.last_error.startswith("resume: sendgrid answered 500")
    assert sandbox.sendgrid.scheduled_sends == {post.external_ref: "pause"}


def test_twilio_cancel_on_pause_and_recreate_on_resume(engine, config, sandbox, spec):
    post_id = schedule_post(engine, config, channel="sms", text="Your table is booked.",
                            publish_at=SEND_AT, external_kind="twilio_message", detail=SMS,
                            by="tester")
    old = list_posts(engine)[0].external_ref
    [message] = sandbox.twilio.messages()
    assert (message["sid"], message["status"], message["to"]) == (old, "scheduled", SMS["to"])

    pause_posts(engine, config, Selector(platforms=("twilio",)), reason="Twilio incident",
                by="ops", now=NOW)
    assert [m["status"] for m in sandbox.twilio.messages()] == ["canceled"]

    report = resume_posts(engine, config, selector=Selector(platforms=("twilio",)),
                          missed="skip", by="ops", now=NOW)
    assert report.resumed == (post_id,)
    [post] = list_posts(engine)
    assert post.state == "scheduled" and post.external_ref != old
    assert [(m["sid"], m["status"]) for m in sandbox.twilio.messages()] == [
        (old, "canceled"), (post.external_ref, "scheduled")]
    created = sandbox.requests("twilio", method="POST", path_contains="Messages.json")[-1]
    # Recreated for its original time, as the SDK serialises it.
    assert created.form["SendAt"] == SEND_AT.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert created.form["MessagingServiceSid"] == MESSAGING_SERVICE
    spec.check(sandbox.requests("twilio"))


def test_twilio_missed_message_is_sent_at_once_on_publish_now(engine, config, sandbox):
    post_id = schedule_post(engine, config, channel="sms", text="Doors open at 6.",
                            publish_at=SEND_AT, external_kind="twilio_message", detail=SMS,
                            by="tester")
    pause_posts(engine, config, Selector(channels=("sms",)), reason="r", by="ops", now=NOW)
    late = SEND_AT + timedelta(minutes=5)
    resume_posts(engine, config, ids=[post_id], missed="publish_now", by="ops", now=late)
    created = sandbox.requests("twilio", method="POST", path_contains="Messages.json")[-1]
    assert "ScheduleType" not in created.form and "SendAt" not in created.form
    assert [m["status"] for m in sandbox.twilio.messages()] == ["canceled", "delivered"]


def test_twilio_payloads_and_lead_time(config):
    cfg = config.channels["sms"]
    assert create_arguments(cfg, "hi", SMS, SEND_AT) == {
        "to": SMS["to"], "body": "hi", "messaging_service_sid": MESSAGING_SERVICE,
        "schedule_type": "fixed", "send_at": SEND_AT}
    assert send_time(NOW - timedelta(seconds=1), NOW) is None
    assert send_time(NOW + timedelta(minutes=3), NOW) == NOW + timedelta(minutes=15)
    assert send_time(SEND_AT, NOW) == SEND_AT


def test_sendgrid_mail_payload(config):
    mail = build_mail(config.channels["email"], "Hello", {"to": ["a@example.com"], "subject": "Hi"},
                      "B1", SEND_AT)
    assert mail["from"] == {"email": "status@example.com"}
    assert mail["batch_id"] == "B1" and mail["send_at"] == int(SEND_AT.timestamp())
    assert mail["personalizations"][0]["to"] == [{"email": "a@example.com"}]
    assert mail["personalizations"][0]["subject"] == "Hi"
    assert mail["content"] == [{"type": "text/plain", "value": "Hello"}]
