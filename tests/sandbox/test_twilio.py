"""The real twilio SDK, sync and async, against the Twilio sandbox; every request checked
against Twilio's OpenAPI document."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from orchestrator.sandbox.sms import num_segments

from .conftest import ACCOUNT_SID

SERVICE_SID = "MG" + "0" * 32
SENDER = "+15005550006"


@pytest.fixture
def client(sandbox):
    """A sync twilio Client aimed at the sandbox; every request it made must match the spec."""
    twilio = Client(ACCOUNT_SID, "auth-token", http_client=TwilioHttpClient(timeout=5))
    twilio.api.base_url = sandbox.base_url("twilio")
    yield twilio
    twilio.http_client.session.close()


@pytest.fixture(autouse=True)
def conforms_to_spec(sandbox, spec):
    yield
    spec.check(sandbox.requests("twilio"))


def send(client, to="+15551230001", body="Facebook is down; we are on it."):
    return client.messages.create(to=to, from_=SENDER, body=body)


def test_create_answers_like_twilio(client, sandbox):
    message = send(client, body="Hello from the sandbox")
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued"
    assert message.num_segments == "1"
    assert message.account_sid == ACCOUNT_SID
    assert message.date_created.tzinfo is not None
    assert message.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message.sid}.json"
    [recorded] = sandbox.requests("twilio")
    assert recorded.form == {"To": "+15551230001", "From": SENDER, "Body": "Hello from the sandbox"}
    assert recorded.headers["authorization"].startswith("Basic ")
    assert sandbox.twilio.messages()[0]["status"] == "delivered"


def test_list_filters_and_pages(client):
    for n in range(5):
        send(client, to=f"+1555123000{n % 2}", body=f"update {n}")
    to_zero = client.messages.list(to="+15551230000", page_size=2)
    assert [m.body for m in to_zero] == ["update 4", "update 2", "update 0"]  # newest first
    assert len(client.messages.list(from_=SENDER)) == 5
    assert len(client.messages.list(date_sent_after=datetime.now(UTC) - timedelta(hours=1))) == 5
    assert client.messages.list(date_sent_before=datetime.now(UTC) - timedelta(days=1)) == []


def test_pages_stay_stable_while_messages_arrive(client):
    for n in range(3):
        send(client, body=f"old {n}")
    first = client.messages.page(page_size=2)
    send(client, body="arrived between pages")
    second = first.next_page()
    assert [m.body for m in first] + [m.body for m in second] == ["old 2", "old 1", "old 0"]


def test_fetch_and_unknown_sid(client):
    sid = send(client).sid
    assert client.messages(sid).fetch().status == "delivered"
    with pytest.raises(TwilioRestException) as caught:
        client.messages("SM" + "f" * 32).fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)


def test_schedule_then_cancel(client, sandbox):
    send_at = datetime.now(UTC) + timedelta(hours=2)
    scheduled = client.messages.create(
        to="+15551230001", messaging_service_sid=SERVICE_SID, body="Our sale starts now",
        schedule_type="fixed", send_at=send_at)
    assert scheduled.status == "scheduled"
    canceled = client.messages(scheduled.sid).update(status="canceled")
    assert canceled.status == "canceled"
    assert sandbox.twilio.messages(status="canceled")[0]["sid"] == scheduled.sid
    with pytest.raises(TwilioRestException) as caught:
        client.messages(send(client).sid).update(status="canceled")
    assert caught.value.code == 30409


@pytest.mark.parametrize(("kwargs", "code"), [
    pytest.param({"messaging_service_sid": None}, 35118, id="needs-messaging-service"),
    pytest.param({"send_at": datetime.now(UTC) + timedelta(minutes=5)}, 35114, id="too-soon"),
])
def test_scheduling_rules(client, kwargs, code):
    args = {"to": "+15551230001", "messaging_service_sid": SERVICE_SID, "body": "x",
            "schedule_type": "fixed", "send_at": datetime.now(UTC) + timedelta(hours=1),
            "from_": SENDER, **kwargs}
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(**args)
    assert caught.value.code == code


@pytest.mark.parametrize("code", [21610, 21211, 21614])
def test_listed_number_is_refused_with_its_code(client, sandbox, code):
    sandbox.script.reject("twilio", "+15551239999", code)
    with pytest.raises(TwilioRestException) as caught:
        send(client, to="+15551239999")
    assert (caught.value.status, caught.value.code) == (400, code)
    assert send(client, to="+15551230001").status == "queued"  # others still go through
    assert [m["to"] for m in sandbox.twilio.messages()] == ["+15551230001"]


def test_carrier_failure_is_accepted_then_undelivered(client, sandbox):
    sandbox.script.reject("twilio", "+15551239999", 30007)
    message = send(client, to="+15551239999")
    assert message.status == "queued"  # the API accepted it; the carrier filtered it
    fetched = client.messages(message.sid).fetch()
    assert (fetched.status, fetched.error_code, fetched.error_message) == (
        "undelivered", 30007, "Message filtered")


def test_status_callbacks_are_signed_like_twilios(client, sandbox):
    callback = sandbox.base_url("webhook") + "/twilio/status"
    message = client.messages.create(to="+15551230001", from_=SENDER, body="hi",
                                     status_callback=callback)
    sandbox.recorder.wait_for(2, provider="webhook")
    validator = RequestValidator("auth-token")  # the token the client authenticated with
    received = sandbox.webhook.received("/twilio/status")
    assert [r.form["MessageStatus"] for r in received] == ["sent", "delivered"]
    for request in received:
        assert request.form["MessageSid"] == message.sid
        assert validator.validate(callback, request.form, request.headers["x-twilio-signature"])
    deadline = time.monotonic() + 5  # the sandbox notes each answer after it arrives
    while len(sandbox.twilio.callbacks) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [c["status"] for c in sandbox.twilio.callbacks] == [200, 200]


def test_error_body_is_twilios(client, sandbox):
    sandbox.script.reject("twilio", "+15551239999", 21610)
    with pytest.raises(TwilioRestException):
        send(client, to="+15551239999")
    recorded = sandbox.requests("twilio")[-1]
    assert recorded.status == 400
    assert json.loads(recorded.response_body) == {
        "code": 21610, "message": "Attempt to send to unsubscribed recipient",
        "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400,
    }


def test_429_then_success(client, sandbox):
    sandbox.script.fail("twilio", 429, times=2, method="POST")
    for _ in range(2):
        with pytest.raises(TwilioRestException) as caught:
            send(client)
        assert (caught.value.status, caught.value.code) == (429, 20429)
    assert send(client).status == "queued"
    assert [r.status for r in sandbox.requests("twilio")] == [429, 429, 201]
    assert len(sandbox.twilio.messages()) == 1
    # Twilio's 429 carries no Retry-After unless the script asks for one.
    assert "retry-after" not in sandbox.requests("twilio")[0].response_headers


def test_429_with_retry_after_when_scripted(client, sandbox):
    sandbox.script.rate_limit("twilio", retry_after=2.5)
    with pytest.raises(TwilioRestException):
        send(client)
    assert sandbox.requests("twilio")[0].response_headers["retry-after"] == "3"


def test_500(client, sandbox):
    sandbox.script.fail("twilio", 500)
    with pytest.raises(TwilioRestException) as caught:
        send(client)
    assert (caught.value.status, caught.value.code) == (500, 20500)
    assert sandbox.twilio.messages() == []


def test_wrong_auth_token_is_401(sandbox):
    sandbox.twilio.auth_token = "right"
    twilio = Client(ACCOUNT_SID, "wrong")
    twilio.api.base_url = sandbox.base_url("twilio")
    try:
        with pytest.raises(TwilioRestException) as caught:
            send(twilio)
        assert (caught.value.status, caught.value.code) == (401, 20003)
    finally:
        sandbox.twilio.auth_token = None
        twilio.http_client.session.close()


def test_slow_answer(sandbox, client):
    sandbox.script.slow("twilio", 0.6)
    started = time.monotonic()
    assert send(client).status == "queued"
    assert time.monotonic() - started >= 0.6


def test_accept_then_timeout_leaves_a_message_to_reconcile(sandbox):
    sandbox.script.accept_then_timeout("twilio", seconds=5)
    impatient = Client(ACCOUNT_SID, "auth-token", http_client=TwilioHttpClient(timeout=0.5))
    impatient.api.base_url = sandbox.base_url("twilio")
    try:
        with pytest.raises(requests.exceptions.Timeout):
            send(impatient, to="+15551230042", body="did this go out?")
        # The client never saw an answer, but Twilio has the message: list to reconcile.
        found = impatient.messages.list(to="+15551230042")
        assert [m.body for m in found] == ["did this go out?"]
    finally:
        impatient.http_client.session.close()
    first = sandbox.requests("twilio")[0]
    assert (first.outcome, first.status) == ("accept_then_timeout", 201)


# twilio's AsyncTwilioHttpClient passes aiohttp.BasicAuth as `auth=`, both of which
# aiohttp 3.14 deprecates; the warnings are the SDK's, so only they are let through.
@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning")
async def test_async_client_sends_lists_and_cancels(sandbox):
    http = AsyncTwilioHttpClient()
    try:
        twilio = Client(ACCOUNT_SID, "auth-token", http_client=http)
        twilio.api.base_url = sandbox.base_url("twilio")
        sent = await twilio.messages.create_async(to="+15551230001", from_=SENDER, body="async")
        scheduled = await twilio.messages.create_async(
            to="+15551230002", messaging_service_sid=SERVICE_SID, body="later",
            schedule_type="fixed", send_at=datetime.now(UTC) + timedelta(hours=1))
        canceled = await twilio.messages(scheduled.sid).update_async(status="canceled")
        listed = await twilio.messages.list_async(page_size=1)
    finally:
        await http.close()
    assert sent.status == "queued" and canceled.status == "canceled"
    assert {m.sid for m in listed} == {sent.sid, scheduled.sid}


@pytest.mark.parametrize(("body", "segments"), [
    pytest.param("a" * 160, 1, id="gsm-160"),
    pytest.param("a" * 161, 2, id="gsm-161"),
    pytest.param("a" * 306, 2, id="gsm-306"),
    pytest.param("a" * 307, 3, id="gsm-307"),
    pytest.param("€" * 80, 1, id="extension-chars-cost-two"),
    pytest.param("€" * 81, 2, id="extension-161-septets"),
    pytest.param("é" * 160, 1, id="gsm-accent"),
    pytest.param("ê" * 70, 1, id="ucs2-70"),
    pytest.param("ê" * 71, 2, id="ucs2-71"),
    pytest.param("😀" * 35, 1, id="astral-two-units"),
    pytest.param("😀" * 36, 2, id="astral-72-units"),
])
def test_num_segments(body, segments):
    assert num_segments(body) == segments
