"""Messages to a Discord channel through a webhook (`?wait=true` to get the message id)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from channels.base import Capabilities, ChannelConfig, Delivery, Message
from channels.transport import HttpChannel, check_length, json_body, rebase
from orchestrator.errors import PermanentDeliveryError
from orchestrator.lazy import httpx
from orchestrator.models import Secret

MAX_LENGTH = 2000


class DiscordConfig(ChannelConfig):
    kind: Literal["discord"]
    webhook_url: Secret
    username: str | None = None
    depends_on: list[str] = ["discord"]


def build_payload(config: DiscordConfig, message: Message) -> dict[str, Any]:
    """The Execute Webhook JSON body."""
    check_length(message.body, MAX_LENGTH, "discord")
    payload: dict[str, Any] = {
        "content": message.body,
        # A template that interpolates "@everyone" must not ping the whole server.
        "allowed_mentions": {"parse": []},
    }
    if config.username:
        payload["username"] = config.username
    return payload


def build_request(config: DiscordConfig, message: Message) -> httpx.Request:
    """POST with `wait=true`, so Discord answers with the created message and its id."""
    url = httpx.URL(rebase(config.webhook_url.get_secret_value(), config.base_url))
    return httpx.Request("POST", url.copy_merge_params({"wait": "true"}),
                         json=build_payload(config, message))


class DiscordChannel(HttpChannel):
    name: ClassVar[str] = "discord"
    provider: ClassVar[str] = "discord"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=2000, default_rate=0.5)
    Config: ClassVar[type[ChannelConfig]] = DiscordConfig
    config: DiscordConfig

    async def send(self, message: Message) -> Delivery:
        response = await self.request(build_request(self.config, message))
        data = json_body(response) or {}
        if "id" not in data:
            raise PermanentDeliveryError("discord answered without a message id",
                                         status=response.status_code, body=response.text)
        return Delivery(provider_id=str(data["id"]), detail={"channel_id": data.get("channel_id")})
