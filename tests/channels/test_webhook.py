"""Webhook channel: exact body and headers, signatures that verify, and error classification."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from channels.base import Message
from channels.webhook import (
    WebhookChannel,
    WebhookConfig,
    build_headers,
    build_payload,
    encode,
    sign,
    verify_signature,
)
from orchestrator.errors import (
    AmbiguousDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

NOW = 1_700_000_000


def config(**overrides) -> WebhookConfig:
    data = {"kind": "webhook", "url": "https://hooks.example.com/in",
            "secret": SecretStr("s3cret")}
    data.update(overrides)
    return WebhookConfig.model_validate(data)


MESSAGE = Message(idempotency_key="k1", body="hi")


def test_payload_and_encoding():
    message = Message(idempotency_key="run:1", body="Down", subject="S", recipient="ops",
                      metadata={"incident": 7})
    payload = build_payload(config(), message)
    assert payload == {"id": "run:1", "text": "Down", "subject": "S", "recipient": "ops",
                       "metadata": {"incident": 7}}
    assert encode(payload) == (b'{"id":"run:1","text":"Down","subject":"S",'
                               b'"recipient":"ops","metadata":{"incident":7}}')


def test_sign_known_vector():
    assert sign("s3cret", NOW, b'{"id":"k1","text":"hi"}') == (
        "sha256=10f8f718c9991218d2fab7f6ee297e227abb92472cc38e8a022faa74f91f0df8")


def test_headers():
    body = encode(build_payload(config(), MESSAGE))
    assert build_headers(config(headers={"X-Team": "ops"}), MESSAGE, body, now=NOW) == {
        "X-Team": "ops",
        "Content-Type": "application/json",
        "Idempotency-Key": "k1",
        "X-Orchestrator-Timestamp": str(NOW),
        "X-Orchestrator-Signature": sign("s3cret", NOW, body),
    }


def test_no_secret_no_signature():
    headers = build_headers(config(secret=None), MESSAGE, b"{}", now=NOW)
    assert "X-Orchestrator-Signature" not in headers


@pytest.mark.parametrize(("secret", "timestamp", "body", "now", "ok"), [
    pytest.param("s3cret", str(NOW), b"{}", NOW + 10, True, id="good"),
    pytest.param("wrong", str(NOW), b"{}", NOW, False, id="wrong-secret"),
    pytest.param("s3cret", str(NOW), b"{ }", NOW, False, id="tampered-body"),
    pytest.param("s3cret", str(NOW), b"{}", NOW + 301, False, id="replayed-late"),
    pytest.param("s3cret", "soon", b"{}", NOW, False, id="bad-timestamp"),
])
def test_verify_signature(secret, timestamp, body, now, ok):
    signature = sign("s3cret", NOW, b"{}")
    assert verify_signature(secret, timestamp, body, signature, now=now) is ok


def test_link_local_url_needs_allow_private():
    with pytest.raises(ValidationError, match="link-local"):
        config(url="http://169.254.169.254/latest")
    assert config(url="http://169.254.169.254/x", allow_private=True).url.endswith("/x")


@pytest.mark.parametrize(("status", "kind"), [
    pytest.param(429, TransientDeliveryError, id="429"),
    pytest.param(502, TransientDeliveryError, id="502"),
    pytest.param(410, PermanentDeliveryError, id="410"),
])
async def test_status_classification(status, kind):
    # A tiny MockTransport case: only the status matters here.
    transport = httpx.MockTransport(lambda request: httpx.Response(
        status, headers={"Retry-After": "3"}))
    async with httpx.AsyncClient(transport=transport) as client:
        channel = WebhookChannel("hook", config(), http=client)
        with pytest.raises(kind) as caught:
            await channel.send(MESSAGE)
    if kind is TransientDeliveryError:
        assert caught.value.retry_after == 3.0


async def test_connection_refused_is_transient(unused_tcp_port):
    channel = WebhookChannel("hook", config(url=f"http://127.0.0.1:{unused_tcp_port}/in"))
    try:
        [outcome] = await channel.send_batch([MESSAGE])
    finally:
        await channel.aclose()
    assert isinstance(outcome, TransientDeliveryError)


# -- against the sandbox's webhook receiver ---------------------------------------------

def hook(sandbox, **overrides) -> WebhookChannel:
    return WebhookChannel("hook", config(url=sandbox.base_url("webhook") + "/ops/in",
                                         **overrides))


async def test_signature_verifies_with_the_secret(sandbox):
    channel = hook(sandbox, headers={"X-Team": "ops"})
    message = Message(idempotency_key="run7:step2:hook", body="Facebook is down",
                      metadata={"incident": 7})
    try:
        delivery = await channel.send(message)
    finally:
        await channel.aclose()
    [received] = sandbox.webhook.received()
    headers = received.headers
    assert received.path == "/ops/in"
    assert verify_signature("s3cret", headers["x-orchestrator-timestamp"], received.body,
                            headers["x-orchestrator-signature"])
    assert not verify_signature("other", headers["x-orchestrator-timestamp"], received.body,
                                headers["x-orchestrator-signature"])
    assert headers["idempotency-key"] == "run7:step2:hook"
    assert headers["x-team"] == "ops"
    assert received.json == {"id": "run7:step2:hook", "text": "Facebook is down",
                             "metadata": {"incident": 7}}
    assert delivery.detail == {"status": 200}


async def test_receiver_5xx_is_transient_and_4xx_permanent(sandbox):
    channel = hook(sandbox)
    sandbox.script.fail("webhook", 503)
    sandbox.script.fail("webhook", 404)
    try:
        outcomes = await channel.send_batch([MESSAGE, MESSAGE])
    finally:
        await channel.aclose()
    assert [type(o) for o in outcomes] == [TransientDeliveryError, PermanentDeliveryError]


async def test_no_answer_after_sending_is_ambiguous(sandbox):
    channel = hook(sandbox, timeout="0.3s")
    sandbox.script.accept_then_timeout("webhook", 5)
    try:
        with pytest.raises(AmbiguousDeliveryError):
            await channel.send(MESSAGE)
    finally:
        await channel.aclose()
    assert len(sandbox.webhook.received()) == 1
