"""Messages to a Slack channel through an incoming webhook."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from channels.base import Capabilities, ChannelConfig, Delivery, Message
from channels.transport import HttpChannel, check_length, rebase
from orchestrator.errors import PermanentDeliveryError
from orchestrator.lazy import httpx
from orchestrator.models import Secret

MAX_LENGTH = 40000


class SlackConfig(ChannelConfig):
    kind: Literal["slack"]
    webhook_url: Secret
    depends_on: list[str] = ["slack"]


def build_payload(config: SlackConfig, message: Message) -> dict[str, Any]:
    """The webhook's JSON body: plain `text`, which Slack also shows in notifications."""
    check_length(message.body, MAX_LENGTH, "slack")
    text = f"*{message.subject}*\n{message.body}" if message.subject else message.body
    return {"text": text}


def build_request(config: SlackConfig, message: Message) -> httpx.Request:
    """POST to the webhook URL, or to the same path under `base_url` when one is set."""
    url = rebase(config.webhook_url.get_secret_value(), config.base_url)
    return httpx.Request("POST", url, json=build_payload(config, message))


class SlackChannel(HttpChannel):
    name: ClassVar[str] = "slack"
    provider: ClassVar[str] = "slack"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=40000, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = SlackConfig
    config: SlackConfig

    async def send(self, message: Message) -> Delivery:
        response = await self.request(build_request(self.config, message))
        # Incoming webhooks answer a bare "ok" and give no message id.
        if response.text.strip() not in ("ok", ""):
            raise PermanentDeliveryError(f"slack answered {response.text[:100]!r}",
                                         status=response.status_code, body=response.text)
        return Delivery(provider_id=None)
