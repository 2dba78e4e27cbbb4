"""Discord channel: Execute Webhook body with `?wait=true`, and the JSON retry_after."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from channels.base import Message
from channels.discord import DiscordChannel, DiscordConfig, build_payload, build_request
from orchestrator.errors import PermanentDeliveryError, TransientDeliveryError
from orchestrator.sandbox.chat import DiscordSandbox
from tests.channels.providers import serve

HOOK = "https://discord.com/api/webhooks/123/tok-en"


def config(base_url: str | None = None, **overrides) -> DiscordConfig:
    return DiscordConfig.model_validate({"kind": "discord", "webhook_url": SecretStr(HOOK),
                                         "base_url": base_url, **overrides})


def test_payload_disables_mentions():
    message = Message(idempotency_key="k", body="@everyone X is down")
    assert build_payload(config(username="Status"), message) == {
        "content": "@everyone X is down", "allowed_mentions": {"parse": []},
        "username": "Status"}


def test_request_waits_for_the_message():
    request = build_request(config(), Message(idempotency_key="k", body="hi"))
    assert str(request.url) == HOOK + "?wait=true"


def test_too_long():
    with pytest.raises(PermanentDeliveryError, match="2001 characters"):
        build_payload(config(), Message(idempotency_key="k", body="x" * 2001))


@pytest.fixture
def sandbox():
    with serve(DiscordSandbox) as served:
        yield served


async def test_post_recorded_with_message_id(sandbox):
    async with DiscordChannel("d", config(sandbox.url)) as channel:
        delivery = await channel.send(Message(idempotency_key="k", body="X is down"))
    [recorded] = sandbox.requests()
    assert recorded.path == "/api/webhooks/123/tok-en"
    assert recorded.query == {"wait": "true"}
    assert recorded.json == {"content": "X is down", "allowed_mentions": {"parse": []}}
    assert delivery.provider_id == sandbox.app.messages[0]["id"]


async def test_rate_limited_with_fractional_retry_after(sandbox):
    # The header rounds up to whole seconds; either way the wait is never shorter than asked.
    sandbox.script.rate_limit("discord", retry_after=1.5)
    async with DiscordChannel("d", config(sandbox.url)) as channel:
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(Message(idempotency_key="k", body="hi"))
    assert caught.value.retry_after >= 1.5


def test_json_retry_after_alone():
    import httpx

    from channels.http import raise_for_status

    response = httpx.Response(429, json={"message": "You are being rate limited.",
                                         "retry_after": 0.25, "global": False})
    with pytest.raises(TransientDeliveryError) as caught:
        raise_for_status(429, response.headers, response.text, "discord")
    assert caught.value.retry_after == 0.25
