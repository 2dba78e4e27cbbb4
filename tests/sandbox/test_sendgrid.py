"""The real sendgrid SDK against the SendGrid sandbox; every request checked against
SendGrid's OpenAPI documents."""

from __future__ import annotations

import time
from urllib.error import URLError

import pytest
from python_http_client.exceptions import (
    BadRequestsError,
    InternalServerError,
    TooManyRequestsError,
    UnauthorizedError,
)
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Mail, Personalization, To

SENDER = "status@brand.example"


@pytest.fixture
def client(sandbox):
    return SendGridAPIClient(api_key="SG.x", host=sandbox.base_url("sendgrid"))


@pytest.fixture(autouse=True)
def conforms_to_spec(sandbox, spec):
    yield
    spec.check(sandbox.requests("sendgrid"))


def mail(recipients: list[str], **extra) -> dict:
    """One personalization per recipient, as a fan-out sends them."""
    message = Mail(from_email=SENDER, subject="Facebook is down",
                   plain_text_content="We are posting updates here instead.")
    for address in recipients:
        person = Personalization()
        person.add_to(To(address))
        message.add_personalization(person)
    return {**message.get(), **extra}


def test_send_with_personalizations(client, sandbox):
    recipients = [f"customer{n}@example.com" for n in range(3)]
    response = client.send(mail(recipients))
    assert response.status_code == 202
    message_id = response.headers["X-Message-Id"]
    assert len(message_id) == 22
    [recorded] = sandbox.requests("sendgrid")
    assert recorded.headers["authorization"] == "Bearer SG.x"
    # (The SDK's add_personalization prepends, so the order is reversed.)
    assert sorted(p["to"][0]["email"] for p in recorded.json["personalizations"]) == recipients
    assert sorted(sandbox.sendgrid.recipients()) == recipients
    assert sandbox.sendgrid.mails[0]["message_id"] == message_id


def test_1000_personalizations_is_one_call(client, sandbox):
    client.send(mail([f"c{n}@example.com" for n in range(1000)]))
    assert len(sandbox.requests("sendgrid")) == 1
    assert len(sandbox.sendgrid.recipients()) == 1000


def test_1001_personalizations_is_refused(client, sandbox, spec):
    with pytest.raises(BadRequestsError) as caught:
        client.send(mail([f"c{n}@example.com" for n in range(1001)]))
    [error] = caught.value.to_dict["errors"]
    assert error["field"] == "personalizations"
    assert "1000" in error["message"] and "1001" in error["message"]
    assert error["help"].startswith("http://sendgrid.com/docs/")
    assert sandbox.sendgrid.mails == []
    # The document agrees (maxItems: 1000); the request is invalid on purpose, so it
    # leaves the recording before the spec check every test ends with.
    [recorded] = sandbox.requests("sendgrid")
    assert "is too long" in " ".join(spec.errors(recorded))
    sandbox.recorder.clear()


@pytest.mark.parametrize(("change", "field"), [
    pytest.param({"from": {"email": "not-an-address"}}, "from.email", id="bad-from"),
    pytest.param({"subject": None}, "subject", id="no-subject"),
    pytest.param({"content": None}, "content", id="no-content"),
    pytest.param({"batch_id": "never-created"}, "batch_id", id="unknown-batch"),
])
def test_invalid_mail_names_the_field(client, sandbox, spec, change, field):
    body = {k: v for k, v in {**mail(["a@example.com"]), **change}.items() if v is not None}
    with pytest.raises(BadRequestsError) as caught:
        client.client.mail.send.post(request_body=body)
    assert caught.value.to_dict["errors"][0]["field"] == field
    if field == "from.email":
        # Invalid for the document too ("format: email"): on purpose, so out of the check.
        assert spec.errors(sandbox.requests("sendgrid")[0])
        sandbox.recorder.clear()


def test_bad_key_is_401(client, sandbox):
    sandbox.sendgrid.api_key = "SG.right"
    try:
        with pytest.raises(UnauthorizedError):
            client.send(mail(["a@example.com"]))
    finally:
        sandbox.sendgrid.api_key = None


def test_batch_and_scheduled_send_pause_cancel(client, sandbox):
    batch_id = client.client.mail.batch.post().to_dict["batch_id"]
    assert client.client.mail.batch._(batch_id).get().to_dict == {"batch_id": batch_id}
    scheduled = client.send(mail(["a@example.com"], batch_id=batch_id,
                                 send_at=int(time.time()) + 3600))
    assert scheduled.status_code == 202

    scheduled_sends = client.client.user.scheduled_sends
    paused = scheduled_sends.post(request_body={"batch_id": batch_id, "status": "pause"})
    assert (paused.status_code, paused.to_dict) == (201, {"batch_id": batch_id, "status": "pause"})
    assert sandbox.sendgrid.delivered(now=time.time() + 7200) == []  # held while paused
    assert scheduled_sends._(batch_id).patch(request_body={"status": "cancel"}).status_code == 204
    assert scheduled_sends._(batch_id).get().to_dict == [{"batch_id": batch_id, "status": "cancel"}]
    assert scheduled_sends.get().to_dict == [{"batch_id": batch_id, "status": "cancel"}]
    assert scheduled_sends._(batch_id).delete().status_code == 204  # resume
    assert sandbox.sendgrid.scheduled_sends == {}
    assert sandbox.sendgrid.delivered() == []  # still scheduled for later
    assert len(sandbox.sendgrid.delivered(now=time.time() + 7200)) == 1
    with pytest.raises(BadRequestsError):
        scheduled_sends.post(request_body={"batch_id": "unknown", "status": "pause"})


def test_429_carries_rate_limit_headers(client, sandbox):
    sandbox.script.rate_limit("sendgrid", retry_after=30)
    with pytest.raises(TooManyRequestsError) as caught:
        client.send(mail(["a@example.com"]))
    headers = caught.value.headers
    assert headers["X-RateLimit-Limit"] == "600"
    assert headers["X-RateLimit-Remaining"] == "0"
    assert 29 <= int(headers["X-RateLimit-Reset"]) - time.time() <= 31
    assert caught.value.to_dict == {"errors": [{"message": "too many requests", "field": None,
                                                "help": None}]}
    assert client.send(mail(["a@example.com"])).status_code == 202  # only once


def test_500(client, sandbox):
    sandbox.script.fail("sendgrid", 500, times=1)
    with pytest.raises(InternalServerError):
        client.send(mail(["a@example.com"]))
    assert sandbox.sendgrid.mails == []


def test_slow_answer(client, sandbox):
    sandbox.script.slow("sendgrid", 0.5)
    started = time.monotonic()
    assert client.send(mail(["a@example.com"])).status_code == 202
    assert time.monotonic() - started >= 0.5


def test_accept_then_timeout_keeps_the_mail(client, sandbox):
    sandbox.script.accept_then_timeout("sendgrid", seconds=5)
    with pytest.raises((TimeoutError, URLError)):
        client.client.mail.send.post(request_body=mail(["late@example.com"]), timeout=0.5)
    assert sandbox.sendgrid.recipients() == ["late@example.com"]
    assert sandbox.requests("sendgrid")[0].status == 202
