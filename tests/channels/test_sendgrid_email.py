"""SendGrid email channel: exact request bodies, call planning, classification, sandbox sends."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from channels.base import Delivery, Message
from channels.sendgrid_email import (
    SendgridEmailChannel,
    SendgridEmailConfig,
    build_payload,
    classify,
    list_unsubscribe,
    plan_calls,
    refused_personalizations,
)
from orchestrator.errors import (
    AmbiguousDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)


def config(**overrides) -> SendgridEmailConfig:
    data = {"kind": "sendgrid", "api_key": SecretStr("SG.key"), "from": "status@example.com"}
    data.update(overrides)
    return SendgridEmailConfig.model_validate(data)


def msg(n: int = 1, body: str = "Facebook is down.", **kw) -> Message:
    kw.setdefault("subject", "Service update")
    return Message(idempotency_key=f"k{n}", body=body, recipient=f"user{n}@example.com", **kw)


def test_plain_text_payload():
    assert build_payload(config(), [msg(1), msg(2)]) == {
        "personalizations": [
            {"to": [{"email": "user1@example.com"}], "subject": "Service update",
             "custom_args": {"idempotency_key": "k1"}},
            {"to": [{"email": "user2@example.com"}], "subject": "Service update",
             "custom_args": {"idempotency_key": "k2"}},
        ],
        "from": {"email": "status@example.com"},
        "content": [{"type": "text/plain", "value": "Facebook is down."}],
    }


def test_full_payload_with_html_asm_unsubscribe_categories_batch():
    cfg = config(from_name="Acme Status", reply_to="help@example.com", asm_group_id=42,
                 categories=["outage", "meta"], unsubscribe_url="https://example.com/u",
                 unsubscribe_mailto="unsub@example.com")
    message = msg(1, html="<p>Facebook is down.</p>", metadata={"batch_id": "B1"})
    assert build_payload(cfg, [message]) == {
        "personalizations": [
            {"to": [{"email": "user1@example.com"}], "subject": "Service update",
             "custom_args": {"idempotency_key": "k1"}},
        ],
        "from": {"email": "status@example.com", "name": "Acme Status"},
        "reply_to": {"email": "help@example.com"},
        "content": [{"type": "text/plain", "value": "Facebook is down."},
                    {"type": "text/html", "value": "<p>Facebook is down.</p>"}],
        "asm": {"group_id": 42},
        "headers": {"List-Unsubscribe": "<mailto:unsub@example.com>, <https://example.com/u>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        "categories": ["outage", "meta"],
        "batch_id": "B1",
    }


def test_template_payload_carries_dynamic_data_and_personal_unsubscribe():
    cfg = config(template_id="d-123")
    message = msg(1, body="Body one", metadata={
        "template_data": {"name": "Ada"}, "unsubscribe_url": "https://example.com/u/abc"})
    assert build_payload(cfg, [message]) == {
        "personalizations": [{
            "to": [{"email": "user1@example.com"}],
            "dynamic_template_data": {"subject": "Service update", "body": "Body one",
                                      "name": "Ada"},
            "headers": {"List-Unsubscribe": "<https://example.com/u/abc>",
                        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
            "custom_args": {"idempotency_key": "k1"},
        }],
        "from": {"email": "status@example.com"},
        "template_id": "d-123",
    }


def test_subject_defaults_to_the_first_line():
    message = Message(idempotency_key="k", body="We are back.\nDetails follow.",
                      recipient="a@example.com")
    assert build_payload(config(), [message])["personalizations"][0]["subject"] == "We are back."


@pytest.mark.parametrize(("url", "mailto", "expected"), [
    pytest.param(None, None, {}, id="none"),
    pytest.param(None, "u@example.com", {"List-Unsubscribe": "<mailto:u@example.com>"},
                 id="mailto-only-no-one-click"),
    pytest.param("https://e.com/u", None,
                 {"List-Unsubscribe": "<https://e.com/u>",
                  "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}, id="url"),
])
def test_list_unsubscribe(url, mailto, expected):
    assert list_unsubscribe(url, mailto) == expected


def test_plan_calls_chunks_by_1000():
    messages = [msg(i) for i in range(2500)]
    assert [len(c) for c in plan_calls(config(), messages)] == [1000, 1000, 500]


def test_plan_calls_groups_by_content_in_first_seen_order():
    messages = [msg(0, body="A"), msg(1, body="B"), msg(2, body="A"),
                msg(3, body="A", metadata={"batch_id": "X"})]
    assert plan_calls(config(), messages) == [[0, 2], [1], [3]]


def test_template_calls_ignore_body_differences():
    messages = [msg(0, body="A"), msg(1, body="B")]
    assert plan_calls(config(template_id="d-1"), messages) == [[0, 1]]


def test_build_payload_refuses_mixed_content_and_oversize_calls():
    with pytest.raises(ValueError, match="must share"):
        build_payload(config(), [msg(0, body="A"), msg(1, body="B")])
    with pytest.raises(ValueError, match="1 to 1000"):
        build_payload(config(), [msg(i) for i in range(1001)])


@pytest.mark.parametrize(("status", "body", "expected"), [
    pytest.param(400, b'{"errors":[{"field":"personalizations.3.to.0.email"},'
                      b'{"field":"personalizations.7.to.0.email"}]}', {3, 7}, id="blamed"),
    pytest.param(400, b'{"errors":[{"field":"personalizations.3.to.0.email"},'
                      b'{"field":"from.email"}]}', None, id="whole-request-too"),
    pytest.param(400, b'{"errors":[{"field":null}]}', None, id="no-field"),
    pytest.param(400, b"<html>", None, id="not-json"),
    pytest.param(401, b'{"errors":[{"field":"personalizations.1.to"}]}', None, id="not-400"),
])
def test_refused_personalizations(status, body, expected):
    assert refused_personalizations(status, body) == expected


def test_classify_429_waits_for_the_reset():
    reset = int(time.time()) + 30
    error = classify(429, {"X-RateLimit-Reset": str(reset)}, b'{"errors":[]}')
    assert isinstance(error, TransientDeliveryError)
    assert 28 <= error.retry_after <= 30


@pytest.mark.parametrize(("status", "kind"), [
    pytest.param(500, TransientDeliveryError, id="500"),
    pytest.param(503, TransientDeliveryError, id="503"),
    pytest.param(400, PermanentDeliveryError, id="400"),
    pytest.param(401, PermanentDeliveryError, id="401"),
    pytest.param(403, PermanentDeliveryError, id="403"),
])
def test_classify(status, kind):
    error = classify(status, {}, b'{"errors":[{"message":"nope"}]}')
    assert type(error) is kind
    assert error.status == status
    assert "nope" in error.body


# -- against the SendGrid sandbox, through the real SDK --------------------------------

@pytest.fixture
async def email(sandbox, spec):
    """An email channel aimed at the sandbox; every request it made must match the spec."""
    channel = SendgridEmailChannel("email", config(base_url=sandbox.base_url("sendgrid"),
                                                   timeout="2s"))
    yield channel
    await channel.aclose()
    spec.check(sandbox.requests("sendgrid"))


async def test_2500_recipients_make_exactly_3_calls(email, sandbox):
    messages = [msg(i) for i in range(2500)]
    outcomes = await email.send_batch(messages)
    calls = sandbox.requests("sendgrid", path_contains="/v3/mail/send")
    assert len(calls) == 3
    assert sorted(len(c.json["personalizations"]) for c in calls) == [500, 1000, 1000]
    assert sorted(sandbox.sendgrid.recipients()) == sorted(m.recipient for m in messages)
    ids = {mail["message_id"] for mail in sandbox.sendgrid.mails}
    assert all(isinstance(o, Delivery) and o.provider_id in ids for o in outcomes)
    assert outcomes[0].provider_id == outcomes[999].provider_id != outcomes[1000].provider_id
    assert calls[0].headers["authorization"] == "Bearer SG.key"


async def test_batch_id_and_one_click_unsubscribe_reach_sendgrid(sandbox, spec):
    sandbox.sendgrid.batches.add("BATCH1")
    channel = SendgridEmailChannel("email", config(
        base_url=sandbox.base_url("sendgrid"), asm_group_id=7, categories=["outage"],
        unsubscribe_url="https://example.com/u"))
    delivery = await channel.send(msg(1, metadata={"batch_id": "BATCH1"}))
    [call] = sandbox.requests("sendgrid")
    assert call.json["batch_id"] == "BATCH1"
    assert call.json["asm"] == {"group_id": 7}
    assert call.json["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert delivery.provider_id == sandbox.sendgrid.mails[0]["message_id"]
    spec.check(sandbox.requests("sendgrid"))


async def test_429_is_transient_until_the_reset(email, sandbox):
    sandbox.script.rate_limit("sendgrid", retry_after=20)
    [outcome] = await email.send_batch([msg(1)])
    assert isinstance(outcome, TransientDeliveryError)
    assert outcome.status == 429
    assert 18 <= outcome.retry_after <= 21
    assert sandbox.sendgrid.mails == []


@pytest.mark.parametrize(("status", "kind"), [
    pytest.param(500, TransientDeliveryError, id="500"),
    pytest.param(400, PermanentDeliveryError, id="400"),
    pytest.param(401, PermanentDeliveryError, id="401"),
    pytest.param(403, PermanentDeliveryError, id="403"),
])
async def test_scripted_failures(sandbox, status, kind):
    channel = SendgridEmailChannel("email", config(base_url=sandbox.base_url("sendgrid")))
    sandbox.script.fail("sendgrid", status)
    with pytest.raises(kind):
        await channel.send(msg(1))


async def test_failed_call_fails_only_its_own_messages(email, sandbox):
    sandbox.script.fail("sendgrid", 500)  # the first call only
    messages = [msg(i) for i in range(1500)]
    outcomes = await email.send_batch(messages)
    failed = [i for i, o in enumerate(outcomes) if isinstance(o, TransientDeliveryError)]
    assert len(failed) in (1000, 500)  # whichever call reached the sandbox first
    assert len(sandbox.sendgrid.recipients()) == 1500 - len(failed)


async def test_no_answer_after_sending_is_ambiguous(sandbox):
    channel = SendgridEmailChannel("email", config(base_url=sandbox.base_url("sendgrid"),
                                                   timeout="0.5s"))
    sandbox.script.accept_then_timeout("sendgrid", 5)
    with pytest.raises(AmbiguousDeliveryError):
        await channel.send(msg(1))
    assert len(sandbox.sendgrid.mails) == 1  # it was accepted: a resend would duplicate


async def test_connection_refused_is_transient(unused_tcp_port):
    channel = SendgridEmailChannel("email", config(
        base_url=f"http://127.0.0.1:{unused_tcp_port}"))
    with pytest.raises(TransientDeliveryError, match="not sent"):
        await channel.send(msg(1))


async def test_refused_recipients_fail_alone_and_the_rest_is_resent(sandbox):
    # No spec check: the bad addresses are the point, and the spec refuses them too.
    channel = SendgridEmailChannel("email", config(base_url=sandbox.base_url("sendgrid")))
    messages = [msg(i) for i in range(5)]
    messages[2] = Message(idempotency_key="k2", body=messages[0].body, subject="Service update",
                          recipient="not-an-address")
    messages[4] = Message(idempotency_key="k4", body=messages[0].body, subject="Service update",
                          recipient="also bad")
    outcomes = await channel.send_batch(messages)
    assert [type(o).__name__ for o in outcomes] == [
        "Delivery", "Delivery", "PermanentDeliveryError", "Delivery", "PermanentDeliveryError"]
    assert "not-an-address" in str(outcomes[2])
    assert len(sandbox.requests("sendgrid")) == 3  # one refused recipient named per 400
    assert sandbox.sendgrid.recipients() == ["user0@example.com", "user1@example.com",
                                             "user3@example.com"]
