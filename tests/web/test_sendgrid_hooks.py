"""SendGrid event webhook: events signed like SendGrid signs them (ECDSA P-256 over timestamp +
body, key generated here) become suppressions and receipts; forgeries are 403 and change nothing."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from orchestrator.store.schema import outbox, suppressions
from tests.web.seed import outbox_row, snapshot

PATH = "/hooks/sendgrid/events"
STAMP = "1732280400"


class Signer:
    """SendGrid's side: a private key, and the verification key as Mail Settings shows it."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: str = STAMP) -> dict[str, str]:
        signature = self.key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
                "Content-Type": "application/json"}


@pytest.fixture
def signer(state) -> Signer:
    signer = Signer()
    state.sendgrid_verification_key = signer.public
    return signer


def event(kind: str, email: str, **extra) -> dict:
    return {"email": email, "event": kind, "timestamp": 1732280400,
            "sg_event_id": f"ev-{kind}-{email}", "sg_message_id": "m1.filter", **extra}


EVENTS = [
    event("bounce", "hard@example.com", type="bounce", reason="550 5.1.1 no such user",
          idempotency_key="k-hard"),
    event("bounce", "busy@example.com", type="blocked", reason="421 try later",
          idempotency_key="k-busy"),
    event("dropped", "dropped@example.com", reason="Bounced Address"),
    event("spamreport", "spam@example.com"),
    event("unsubscribe", "Unsub@EXAMPLE.com"),  # stored as contact imports normalize it
    event("group_unsubscribe", "group@example.com", asm_group_id=42),
    event("delivered", "fine@example.com", idempotency_key="k-fine"),
    event("open", "reader@example.com"),
    {"event": "bounce"},  # no address: ignored, not an error
]


async def test_signed_events_take_effect(client, engine, signer):
    hard = outbox_row(engine, "k-hard", "email", "hard@example.com", provider_id="m1")
    busy = outbox_row(engine, "k-busy", "email", "busy@example.com")
    fine = outbox_row(engine, "k-fine", "email", "fine@example.com", state="unknown")
    body = json.dumps(EVENTS).encode()
    answer = await client.post(PATH, content=body, headers=signer.headers(body))
    assert answer.status_code == 200
    assert answer.json() == {"events": 9, "suppressed": 5, "receipts": 3}
    with engine.connect() as conn:
        found = {r.address: r.reason for r in conn.execute(select(suppressions))}
        rows = dict(conn.execute(select(outbox.c.id, outbox.c.state)).all())
    assert found == {
        "hard@example.com": "sendgrid bounce: 550 5.1.1 no such user",
        "dropped@example.com": "sendgrid dropped: Bounced Address",
        "spam@example.com": "sendgrid spamreport: spamreport",
        "Unsub@example.com": "sendgrid unsubscribe: unsubscribe",
        "group@example.com": "sendgrid group_unsubscribe: group_unsubscribe",
    }
    assert rows == {hard: "failed", busy: "failed", fine: "sent"}
    # SendGrid retries deliveries: the same batch again adds nothing.
    again = await client.post(PATH, content=body, headers=signer.headers(body))
    assert again.json()["suppressed"] == 0


def forgeries(signer: Signer, body: bytes) -> dict[str, tuple[bytes, dict[str, str]]]:
    good = signer.headers(body)
    tampered = body.replace(b"spam@example.com", b"ceo@example.com")
    return {
        "no headers": (body, {"Content-Type": "application/json"}),
        "other key": (body, Signer().headers(body)),
        "tampered body": (tampered, good),
        "replayed timestamp": (body, {**good, "X-Twilio-Email-Event-Webhook-Timestamp": "1"}),
        "garbage signature": (body, {**good, "X-Twilio-Email-Event-Webhook-Signature": "!!"}),
        "empty signature": (body, {**good, "X-Twilio-Email-Event-Webhook-Signature": ""}),
    }


async def test_forged_events_are_403_and_change_nothing(client, engine, signer):
    outbox_row(engine, "k-hard", "email", "hard@example.com")
    body = json.dumps(EVENTS).encode()
    before = snapshot(engine)
    for name, (content, headers) in forgeries(signer, body).items():
        answer = await client.post(PATH, content=content, headers=headers)
        assert answer.status_code == 403, name
        assert answer.json() == {"error": "invalid SendGrid event webhook signature"}
    assert snapshot(engine) == before


async def test_without_a_verification_key_everything_is_refused(client, engine):
    body = json.dumps(EVENTS).encode()
    before = snapshot(engine)
    answer = await client.post(PATH, content=body, headers=Signer().headers(body))
    assert answer.status_code == 403
    assert snapshot(engine) == before


async def test_a_signed_body_that_is_not_a_list_is_400(client, signer):
    body = b'{"event": "bounce"}'
    assert (await client.post(PATH, content=body, headers=signer.headers(body))).status_code \
        == 400
