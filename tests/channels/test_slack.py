"""Slack channel: the incoming-webhook body, base_url rebasing, and Retry-After."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from channels.base import Message
from channels.slack import SlackChannel, SlackConfig, build_payload, build_request
from orchestrator.errors import PermanentDeliveryError, TransientDeliveryError
from orchestrator.sandbox.chat import SlackSandbox
from tests.channels.providers import serve

HOOK = "https://hooks.slack.com/services/T000/B000/XXXX"


def config(base_url: str | None = None) -> SlackConfig:
    return SlackConfig.model_validate({"kind": "slack", "webhook_url": SecretStr(HOOK),
                                       "base_url": base_url})


def test_payload():
    assert build_payload(config(), Message(idempotency_key="k", body="X is down")) == {
        "text": "X is down"}
    assert build_payload(config(), Message(idempotency_key="k", body="b", subject="S")) == {
        "text": "*S*\nb"}


def test_request_url_defaults_to_the_hook_and_follows_base_url():
    message = Message(idempotency_key="k", body="hi")
    assert str(build_request(config(), message).url) == HOOK
    assert str(build_request(config("http://127.0.0.1:9/slack"), message).url) == (
        "http://127.0.0.1:9/slack/services/T000/B000/XXXX")


@pytest.fixture
def sandbox():
    with serve(SlackSandbox) as served:
        yield served


async def test_post_recorded(sandbox):
    async with SlackChannel("ops-slack", config(sandbox.url)) as channel:
        delivery = await channel.send(Message(idempotency_key="k", body="X is down"))
    [recorded] = sandbox.requests()
    assert recorded.path == "/services/T000/B000/XXXX"
    assert recorded.json == {"text": "X is down"}
    assert sandbox.app.messages == [{"hook": "T000/B000/XXXX", "text": "X is down"}]
    assert delivery.provider_id is None


async def test_rate_limited(sandbox):
    sandbox.script.rate_limit("slack", retry_after=7)
    async with SlackChannel("s", config(sandbox.url)) as channel:
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(Message(idempotency_key="k", body="hi"))
    assert caught.value.retry_after == 7


async def test_archived_channel_is_permanent(sandbox):
    sandbox.script.fail("slack", 410, body="channel_is_archived")
    async with SlackChannel("s", config(sandbox.url)) as channel:
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(Message(idempotency_key="k", body="hi"))
    assert caught.value.body == "channel_is_archived"
