"""Public posts to a Mastodon account (statuses API, with the outbox key as Idempotency-Key)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from channels.base import Capabilities, ChannelConfig, Delivery, Message
from channels.transport import HttpChannel, check_length, join_url, json_body
from orchestrator.errors import PermanentDeliveryError
from orchestrator.lazy import httpx
from orchestrator.models import HttpUrl, Secret


class MastodonConfig(ChannelConfig):
    kind: Literal["mastodon"]
    base_url: HttpUrl
    token: Secret
    visibility: Literal["public", "unlisted", "private"] = "public"
    max_length: int = 500


def build_payload(config: MastodonConfig, message: Message) -> dict[str, Any]:
    """The JSON body of `POST /api/v1/statuses`."""
    check_length(message.body, config.max_length, "mastodon")
    payload: dict[str, Any] = {"status": message.body, "visibility": config.visibility}
    if message.reply_to:
        payload["in_reply_to_id"] = message.reply_to
    return payload


def build_request(config: MastodonConfig, message: Message) -> httpx.Request:
    """The whole statuses request; the Idempotency-Key makes a repeat return the first status."""
    return httpx.Request(
        "POST", join_url(config.base_url, "/api/v1/statuses"),
        json=build_payload(config, message),
        headers={"Authorization": f"Bearer {config.token.get_secret_value()}",
                 "Idempotency-Key": message.idempotency_key})


class MastodonChannel(HttpChannel):
    name: ClassVar[str] = "mastodon"
    provider: ClassVar[str] = "mastodon"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=500, threading=True, media=True, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = MastodonConfig
    config: MastodonConfig

    async def send(self, message: Message) -> Delivery:
        response = await self.request(build_request(self.config, message))
        status = json_body(response)
        if not isinstance(status, dict) or "id" not in status:
            raise PermanentDeliveryError("mastodon answered without a status id",
                                         status=response.status_code, body=response.text)
        return Delivery(provider_id=str(status["id"]),
                        detail={"url": status.get("url"), "uri": status.get("uri")})

    async def reconcile(self, message: Message) -> Delivery:
        """Settle an ambiguous send: Mastodon answers a repeated key with the status it made."""
        # The server keeps idempotency keys for an hour, so this is safe within that window.
        return await self.send(message)
