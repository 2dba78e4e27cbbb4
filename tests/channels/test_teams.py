"""Teams channel: an Adaptive Card message, and the connector's errors hidden in 200 bodies."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from channels.base import Message
from channels.teams import TeamsChannel, TeamsConfig, build_payload, build_request
from orchestrator.errors import TransientDeliveryError
from orchestrator.sandbox.chat import TeamsSandbox
from tests.channels.providers import serve

HOOK = "https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/123/456"


def config(base_url: str | None = None, hook: str = HOOK) -> TeamsConfig:
    return TeamsConfig.model_validate({"kind": "teams", "webhook_url": SecretStr(hook),
                                       "base_url": base_url})


def test_payload():
    message = Message(idempotency_key="k", body="X is down", subject="Incident")
    assert build_payload(config(), message) == {
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": "Incident", "weight": "Bolder",
                     "size": "Medium", "wrap": True},
                    {"type": "TextBlock", "text": "X is down", "wrap": True},
                ],
            },
        }],
    }
    assert str(build_request(config("http://h/teams"), message).url) == (
        "http://h/teams/webhookb2/abc@def/IncomingWebhook/123/456")


def test_throttle_reported_inside_a_200_body():
    channel = TeamsChannel("t", config())
    wrapped = httpx.Response(200, text="Microsoft Teams endpoint returned HTTP error 429 "
                                       "with ContextId tcid=0")
    with pytest.raises(TransientDeliveryError) as caught:
        channel.raise_for_response(wrapped)
    assert caught.value.status == 429
    channel.raise_for_response(httpx.Response(200, text="1"))


@pytest.fixture
def sandbox():
    with serve(TeamsSandbox) as served:
        yield served


@pytest.mark.parametrize("path", ["/webhookb2/abc/IncomingWebhook/1/2", "/workflows/flow-1"])
async def test_post_recorded(sandbox, path):
    async with TeamsChannel("t", config(sandbox.url, "https://x.example" + path)) as channel:
        await channel.send(Message(idempotency_key="k", body="X is down"))
    [recorded] = sandbox.requests()
    assert recorded.path == path
    assert recorded.json == build_payload(config(), Message(idempotency_key="k", body="X is down"))
    assert len(sandbox.app.messages) == 1


async def test_rate_limited(sandbox):
    sandbox.script.rate_limit("teams", retry_after=4)
    async with TeamsChannel("t", config(sandbox.url)) as channel:
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(Message(idempotency_key="k", body="hi"))
    assert caught.value.retry_after == 4
