"""Twilio SMS channel: exact payloads, segment counts, error classification, and sandbox sends."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError
from twilio.base.exceptions import TwilioRestException, TwilioServiceException

from channels.base import Message
from channels.twilio_sms import (
    TwilioSmsChannel,
    TwilioSmsConfig,
    _transport_error,
    build_payload,
    classify,
    count_segments,
)
from orchestrator.errors import (
    AmbiguousDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

SID = "AC" + "0" * 32
SERVICE = "MG" + "1" * 32


def config(**overrides) -> TwilioSmsConfig:
    data = {"kind": "twilio", "account_sid": SecretStr(SID), "auth_token": SecretStr("token"),
            "from": "+15005550006"}
    data.update(overrides)
    return TwilioSmsConfig.model_validate(data)


def msg(body: str = "Facebook is down; we are on it.", to: str = "+15551230001",
        key: str = "run1:step1:sms:+15551230001") -> Message:
    return Message(idempotency_key=key, body=body, recipient=to)


# -- build_payload ---------------------------------------------------------------------

def test_payload_from_number():
    assert build_payload(config(), msg()) == {
        "to": "+15551230001", "body": "Facebook is down; we are on it.",
        "from_": "+15005550006"}


def test_payload_messaging_service_and_status_callback():
    cfg = config(**{"from": None, "messaging_service_sid": SERVICE,
                    "status_callback": "https://hooks.example.com/twilio/status"})
    assert build_payload(cfg, msg(body="hi")) == {
        "to": "+15551230001", "body": "hi", "messaging_service_sid": SERVICE,
        "status_callback": "https://hooks.example.com/twilio/status"}


def test_payload_needs_a_recipient():
    with pytest.raises(ValueError, match="needs a recipient"):
        build_payload(config(), Message(idempotency_key="k", body="hi"))


def test_config_wants_exactly_one_sender():
    with pytest.raises(ValidationError, match="exactly one of 'from'"):
        config(messaging_service_sid=SERVICE)


# -- segments --------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "segments"), [
    pytest.param("", 1, id="empty"),
    pytest.param("a" * 160, 1, id="gsm-160"),
    pytest.param("a" * 161, 2, id="gsm-161"),
    pytest.param("a" * 306, 2, id="gsm-306"),
    pytest.param("a" * 307, 3, id="gsm-307"),
    pytest.param("€" * 80, 1, id="extension-chars-cost-two"),
    pytest.param("€" * 81, 2, id="extension-161-units"),
    pytest.param("ş" * 70, 1, id="ucs2-70"),
    pytest.param("ş" * 71, 2, id="ucs2-71"),
    pytest.param("😀" * 35, 1, id="astral-two-units-each"),
    pytest.param("😀" * 36, 2, id="astral-72-units"),
    pytest.param("x" * 1600, 11, id="max-body"),
])
def test_count_segments(body, segments):
    assert count_segments(body) == segments


# -- classification --------------------------------------------------------------------

def rest_error(status: int, code: int | None) -> TwilioRestException:
    return TwilioRestException(status, "/2010-04-01/Accounts/x/Messages.json", "boom", code,
                               "POST")


@pytest.mark.parametrize(("status", "code", "headers", "kind", "suppress", "wait"), [
    pytest.param(429, 20429, {"Retry-After": "7"}, TransientDeliveryError, None, 7.0,
                 id="429-retry-after"),
    pytest.param(429, 20429, {}, TransientDeliveryError, None, None, id="429-bare"),
    pytest.param(400, 20429, {}, TransientDeliveryError, None, None, id="code-20429"),
    pytest.param(500, 20500, {}, TransientDeliveryError, None, None, id="500"),
    pytest.param(503, 20503, {"Retry-After": "2"}, TransientDeliveryError, None, 2.0,
                 id="503"),
    pytest.param(400, 21211, {}, PermanentDeliveryError, False, None, id="invalid-number"),
    pytest.param(400, 21610, {}, PermanentDeliveryError, True, None, id="opted-out"),
    pytest.param(401, 20003, {}, PermanentDeliveryError, False, None, id="401"),
    pytest.param(403, 20403, {}, PermanentDeliveryError, False, None, id="403"),
])
def test_classify(status, code, headers, kind, suppress, wait):
    error = classify(rest_error(status, code), headers)
    assert type(error) is kind
    assert (error.status, error.code) == (status, code)
    if kind is TransientDeliveryError:
        assert error.retry_after == wait
    else:
        assert error.suppress is suppress


def test_classify_rfc9457_service_errors():
    error = classify(TwilioServiceException(
        "https://www.twilio.com/docs/errors/21610", "Unsubscribed recipient", 400, 21610,
        detail="Attempt to send to unsubscribed recipient"))
    assert type(error) is PermanentDeliveryError
    assert (error.suppress, error.body) == (True, "Attempt to send to unsubscribed recipient")


@pytest.mark.parametrize(("method", "sent", "kind"), [
    pytest.param("POST", True, AmbiguousDeliveryError, id="post-sent"),
    pytest.param("POST", False, TransientDeliveryError, id="post-not-sent"),
    pytest.param("GET", True, TransientDeliveryError, id="get-is-safe"),
])
def test_transport_errors(method, sent, kind):
    assert type(_transport_error(TimeoutError(), method, sent)) is kind


async def test_overlong_body_is_refused_before_any_request():
    channel = TwilioSmsChannel("sms", config(base_url="http://127.0.0.1:9"))
    with pytest.raises(PermanentDeliveryError, match="1601 characters"):
        await channel.send(msg(body="x" * 1601))
    await channel.aclose()


# -- against the Twilio sandbox, through the real SDK ----------------------------------

@pytest.fixture
async def sms(sandbox, spec):
    """An SMS channel aimed at the sandbox; every request it made must match the spec."""
    channel = TwilioSmsChannel("sms", config(base_url=sandbox.base_url("twilio"),
                                             timeout="2s"))
    yield channel
    await channel.aclose()
    spec.check(sandbox.requests("twilio"))


async def test_send_is_recorded_with_segments(sms, sandbox):
    body = "Facebook is down. " * 10  # 180 GSM characters: two segments
    delivery = await sms.send(msg(body=body))
    [recorded] = sandbox.requests("twilio")
    assert recorded.method == "POST"
    assert recorded.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert recorded.form == {"To": "+15551230001", "From": "+15005550006", "Body": body}
    [stored] = sandbox.twilio.messages()
    assert delivery.provider_id == stored["sid"]
    assert delivery.status == "queued"
    assert delivery.detail == {"num_segments": 2}


async def test_messaging_service_and_status_callback(sandbox, spec):
    channel = TwilioSmsChannel("sms", config(**{
        "from": None, "messaging_service_sid": SERVICE,
        "status_callback": "https://hooks.example.com/twilio/status",
        "base_url": sandbox.base_url("twilio")}))
    try:
        delivery = await channel.send(msg(body="ş" * 71))
    finally:
        await channel.aclose()
    [recorded] = sandbox.requests("twilio")
    assert recorded.form["MessagingServiceSid"] == SERVICE
    assert recorded.form["StatusCallback"] == "https://hooks.example.com/twilio/status"
    assert "From" not in recorded.form
    assert (delivery.status, delivery.detail) == ("accepted", {"num_segments": 2})
    spec.check(sandbox.requests("twilio"))


async def test_429_with_retry_after_is_transient(sms, sandbox):
    sandbox.script.rate_limit("twilio", retry_after=3)
    with pytest.raises(TransientDeliveryError) as caught:
        await sms.send(msg())
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (429, 20429, 3.0)
    assert await sms.send(msg())  # a Twilio 429 is safe to retry: nothing was created


async def test_bare_429_is_transient_without_a_wait(sms, sandbox):
    sandbox.script.fail("twilio", 429)
    with pytest.raises(TransientDeliveryError) as caught:
        await sms.send(msg())
    assert caught.value.retry_after is None
    assert sandbox.twilio.messages() == []


async def test_500_is_transient(sms, sandbox):
    sandbox.script.fail("twilio", 500)
    with pytest.raises(TransientDeliveryError):
        await sms.send(msg())


async def test_opted_out_is_permanent_suppress_after_one_request(sms, sandbox):
    sandbox.script.reject("twilio", "+15551230009", OPTED_OUT_CODE)
    with pytest.raises(PermanentDeliveryError) as caught:
        await sms.send(msg(to="+15551230009"))
    assert (caught.value.suppress, caught.value.code, caught.value.status) == (True, 21610, 400)
    assert len(sandbox.requests("twilio")) == 1


async def test_invalid_number_is_permanent(sms, sandbox):
    sandbox.script.reject("twilio", "+15550000000", 21211)  # well-formed, not assignable
    with pytest.raises(PermanentDeliveryError) as caught:
        await sms.send(msg(to="+15550000000"))
    assert (caught.value.code, caught.value.suppress) == (21211, False)


async def test_accept_then_timeout_is_ambiguous_and_reconciled(sandbox, spec):
    channel = TwilioSmsChannel("sms", config(base_url=sandbox.base_url("twilio"),
                                             timeout="0.5s"))
    sandbox.script.accept_then_timeout("twilio", 5, method="POST")
    message = msg(body="We are on it (update 2).")
    try:
        with pytest.raises(AmbiguousDeliveryError):
            await channel.send(message)
        found = await channel.reconcile(message)
        missing = await channel.reconcile(msg(body="never sent"))
    finally:
        await channel.aclose()
    [stored] = sandbox.twilio.messages()
    assert found is not None and found.provider_id == stored["sid"]
    assert found.detail == {"num_segments": 1, "reconciled": True}
    assert missing is None
    lists = sandbox.requests("twilio", method="GET")
    assert [r.query["To"] for r in lists] == ["+15551230001"] * 2
    assert all("DateSent>" in r.query for r in lists)
    spec.check(sandbox.requests("twilio"), response=False)


async def test_reconcile_that_cannot_ask_is_transient(sms, sandbox):
    sandbox.script.fail("twilio", 503, method="GET")
    with pytest.raises(TransientDeliveryError, match="cannot reconcile"):
        await sms.reconcile(msg())


async def test_connection_refused_is_transient(unused_tcp_port):
    channel = TwilioSmsChannel("sms", config(base_url=f"http://127.0.0.1:{unused_tcp_port}"))
    try:
        with pytest.raises(TransientDeliveryError, match="not completed"):
            await channel.send(msg())
    finally:
        await channel.aclose()


async def test_send_batch_reports_each_outcome(sms, sandbox):
    sandbox.script.reject("twilio", "+15551230003", OPTED_OUT_CODE)
    messages = [msg(to=f"+1555123000{i}", key=f"k{i}") for i in range(6)]
    outcomes = await sms.send_batch(messages)
    assert [type(o).__name__ for o in outcomes] == (
        ["Delivery"] * 3 + ["PermanentDeliveryError"] + ["Delivery"] * 2)
    assert len(sandbox.twilio.messages()) == 5


OPTED_OUT_CODE = 21610


async def test_cut_off_answer_to_a_create_is_ambiguous(sandbox):
    # No spec check: the cut-off answer is the point.
    channel = TwilioSmsChannel("sms", config(base_url=sandbox.base_url("twilio")))
    sandbox.script.truncated("twilio", path_contains="Messages.json")
    try:
        with pytest.raises(AmbiguousDeliveryError, match="unreadable"):
            await channel.send(msg())
    finally:
        await channel.aclose()
    assert len(sandbox.twilio.messages()) == 1
