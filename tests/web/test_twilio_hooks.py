"""Twilio webhooks, signed with the SDK's own RequestValidator: STOP/START/HELP/STATUS and
status callbacks take effect; every forged request is a 403 that changes nothing."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from orchestrator.store.schema import outbox, suppressions
from tests.web.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, T0
from tests.web.seed import incident, outbox_row, snapshot

CUSTOMER = "+15558675310"


def signed(client, path: str, params: dict[str, str], *, token: str = AUTH_TOKEN,
           url: str | None = None, body: dict[str, str] | None = None):
    """POST `body` (default `params`) signed as Twilio signs `params` for `url`."""
    signature = RequestValidator(token).compute_signature(url or PUBLIC_URL + path, params)
    return client.post(path, content=urlencode(body or params),
                       headers={"X-Twilio-Signature": signature,
                                "Content-Type": "application/x-www-form-urlencoded"})


def sms(body: str, sender: str = CUSTOMER, **extra: str) -> dict[str, str]:
    return {"AccountSid": ACCOUNT_SID, "MessageSid": "SM" + "1" * 32, "From": sender,
            "To": "+15005550006", "Body": body, **extra}


def reply(answer) -> str | None:
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(answer.text)
    assert root.tag == "Response"
    message = root.find("Message")
    return None if message is None else message.text


def suppressed(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {r.address: r.reason for r in conn.execute(select(suppressions))}


async def test_stop_words_suppress(client, engine):
    words = ["STOP", "stop", " Stop ", "STOPALL", "UNSUBSCRIBE", "cancel", "END", "quit."]
    for i, word in enumerate(words):
        sender = f"+1555867{i:04d}"
        assert reply(await signed(client, "/hooks/twilio/inbound", sms(word, sender))) is None
        assert sender in suppressed(engine), word
    assert len(suppressed(engine)) == len(words)


async def test_start_lifts_the_suppression_and_advanced_opt_out_is_honoured(client, engine):
    await signed(client, "/hooks/twilio/inbound", sms("arrête", OptOutType="STOP"))
    assert CUSTOMER in suppressed(engine)
    assert reply(await signed(client, "/hooks/twilio/inbound", sms("UNSTOP"))) is None
    assert suppressed(engine) == {}
    await signed(client, "/hooks/twilio/inbound", sms("stop"))
    await signed(client, "/hooks/twilio/inbound", sms("Start"))
    assert suppressed(engine) == {}


async def test_help_and_unknown_text(client, engine):
    text = reply(await signed(client, "/hooks/twilio/inbound", sms("help")))
    assert "STATUS" in text and "STOP" in text and PUBLIC_URL in text
    assert reply(await signed(client, "/hooks/twilio/inbound", sms("when is it fixed?"))) is None
    assert suppressed(engine) == {}


async def test_status_answers_with_the_latest_public_update(client, engine, clock):
    assert "no current incidents" in reply(
        await signed(client, "/hooks/twilio/inbound", sms("STATUS")))
    incident(engine, T0 - timedelta(days=2), "Old one", state="resolved",
             resolved_at=T0 - timedelta(days=1), public=["old news"])
    assert "old news" in reply(await signed(client, "/hooks/twilio/inbound", sms("status")))
    incident(engine, T0, "Facebook is down", public=["We are on it", "Fix <deploying> & soon"],
             private=["internal: detector says 503"])
    text = reply(await signed(client, "/hooks/twilio/inbound", sms("STATUS")))
    assert text.startswith("Facebook is down (2026-11-22 13:02 UTC): Fix <deploying> & soon")
    assert "internal" not in text and text.endswith(PUBLIC_URL)


async def test_status_callback_failure_21610_suppresses(client, engine):
    row = outbox_row(engine, "k1", "sms", CUSTOMER, provider_id="SM" + "a" * 32)
    answer = await signed(client, "/hooks/twilio/status", {
        "AccountSid": ACCOUNT_SID, "MessageSid": "SM" + "a" * 32, "MessageStatus": "undelivered",
        "ErrorCode": "21610", "To": CUSTOMER})
    assert answer.status_code == 204
    with engine.connect() as conn:
        state, error = conn.execute(select(outbox.c.state, outbox.c.last_error)
                                    .where(outbox.c.id == row)).one()
    assert (state, error) == ("failed", "twilio undelivered (error 21610)")
    assert suppressed(engine) == {CUSTOMER: "opted out (Twilio 21610)"}


async def test_status_callback_delivered_confirms_an_unknown_row(client, engine):
    row = outbox_row(engine, "k2", "sms", CUSTOMER, state="unknown", provider_id="SM" + "b" * 32)
    for status in ("sent", "delivered"):
        assert (await signed(client, "/hooks/twilio/status", {
            "AccountSid": ACCOUNT_SID, "MessageSid": "SM" + "b" * 32,
            "MessageStatus": status})).status_code == 204
    with engine.connect() as conn:
        assert conn.execute(select(outbox.c.state).where(outbox.c.id == row)).scalar() == "sent"
    assert suppressed(engine) == {}


FORGERIES = {
    "no signature": lambda c, path, p: c.post(path, content=urlencode(p)),
    "wrong auth token": lambda c, path, p: signed(c, path, p, token="guessed"),
    "other URL": lambda c, path, p: signed(c, path, p, url="https://evil.example" + path),
    "tampered body": lambda c, path, p: signed(c, path, p, body={**p, "To": "+15550000000",
                                                                 "Body": "STOP"}),
    "unknown account": lambda c, path, p: signed(c, path, {**p, "AccountSid": "AC" + "f" * 32}),
}


@pytest.mark.parametrize("path", ["/hooks/twilio/inbound", "/hooks/twilio/status"])
async def test_forged_requests_are_403_and_change_nothing(client, engine, path):
    outbox_row(engine, "k3", "sms", CUSTOMER, provider_id="SM" + "c" * 32)
    params = {**sms("STOP"), "MessageSid": "SM" + "c" * 32, "MessageStatus": "failed",
              "ErrorCode": "21610"}
    before = snapshot(engine)
    for name, forge in FORGERIES.items():
        answer = await forge(client, path, params)
        assert answer.status_code == 403, name
        assert answer.json() == {"error": "invalid Twilio signature"}
    assert snapshot(engine) == before
    # The same request, really signed, does take effect (so the forgeries were close).
    assert (await signed(client, path, params)).status_code in (200, 204)
    assert snapshot(engine) != before


async def test_without_a_public_url_nothing_validates(client, engine, state):
    state.config = state.config.model_copy(update={
        "http": state.config.http.model_copy(update={"public_url": None})})
    before = snapshot(engine)
    assert (await signed(client, "/hooks/twilio/inbound", sms("STOP"))).status_code == 403
    assert snapshot(engine) == before
