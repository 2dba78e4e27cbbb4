"""Messages to a Microsoft Teams channel through an incoming webhook."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from channels.base import Capabilities, ChannelConfig, Delivery, Message
from channels.http import raise_for_status
from channels.transport import HttpChannel, check_length, rebase
from orchestrator.lazy import httpx
from orchestrator.models import Secret

MAX_LENGTH = 28000
# Legacy Office 365 connectors answer HTTP 200 with this text when Teams throttled them.
_WRAPPED_ERROR = re.compile(r"Microsoft Teams endpoint returned HTTP error (\d{3})")


class TeamsConfig(ChannelConfig):
    kind: Literal["teams"]
    webhook_url: Secret
    depends_on: list[str] = ["teams"]


def build_payload(config: TeamsConfig, message: Message) -> dict[str, Any]:
    """A `message` carrying one Adaptive Card, the format both Workflows webhooks and the
    older Office 365 connectors accept."""
    check_length(message.body, MAX_LENGTH, "teams")
    body: list[dict[str, Any]] = []
    if message.subject:
        body.append({"type": "TextBlock", "text": message.subject, "weight": "Bolder",
                     "size": "Medium", "wrap": True})
    body.append({"type": "TextBlock", "text": message.body, "wrap": True})
    return {
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    }


def build_request(config: TeamsConfig, message: Message) -> httpx.Request:
    url = rebase(config.webhook_url.get_secret_value(), config.base_url)
    return httpx.Request("POST", url, json=build_payload(config, message))


class TeamsChannel(HttpChannel):
    name: ClassVar[str] = "teams"
    provider: ClassVar[str] = "teams"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=28000, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = TeamsConfig
    config: TeamsConfig

    async def send(self, message: Message) -> Delivery:
        await self.request(build_request(self.config, message))
        # Webhooks give no message id: "1" (connectors) or an empty 202 (Workflows).
        return Delivery(provider_id=None)

    def raise_for_response(self, response: httpx.Response) -> None:
        wrapped = _WRAPPED_ERROR.search(response.text) if response.status_code < 300 else None
        status = int(wrapped.group(1)) if wrapped else response.status_code
        raise_for_status(status, response.headers, response.text, "teams")
