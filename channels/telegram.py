"""Messages to a Telegram chat or channel through the Bot API's sendMessage."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from channels.base import Capabilities, ChannelConfig, Delivery, Message
from channels.transport import HttpChannel, check_length, join_url, json_body
from orchestrator.errors import PermanentDeliveryError
from orchestrator.lazy import httpx
from orchestrator.models import Secret

DEFAULT_BASE_URL = "https://api.telegram.org"
MAX_LENGTH = 4096


class TelegramConfig(ChannelConfig):
    kind: Literal["telegram"]
    bot_token: Secret
    chat_id: str
    depends_on: list[str] = ["telegram"]


def build_payload(config: TelegramConfig, message: Message) -> dict[str, Any]:
    """The sendMessage JSON body. No `parse_mode`: rendered templates are plain text, and a
    stray `*` or `<` would make Telegram refuse the whole message."""
    # Telegram counts UTF-16 code units, so an emoji costs two.
    check_length(message.body, MAX_LENGTH, "telegram", "UTF-16 code units",
                 len(message.body.encode("utf-16-le")) // 2)
    payload: dict[str, Any] = {"chat_id": config.chat_id, "text": message.body}
    if message.reply_to:
        if not message.reply_to.isdigit():
            raise PermanentDeliveryError(f"telegram: reply_to {message.reply_to!r} is not a "
                                         "message id")
        payload["reply_parameters"] = {"message_id": int(message.reply_to),
                                       "allow_sending_without_reply": True}
    return payload


def build_request(config: TelegramConfig, message: Message) -> httpx.Request:
    """POST /bot<token>/sendMessage (the token is part of the path, so never log this URL)."""
    url = join_url(config.base_url or DEFAULT_BASE_URL,
                   f"/bot{config.bot_token.get_secret_value()}/sendMessage")
    return httpx.Request("POST", url, json=build_payload(config, message))


class TelegramChannel(HttpChannel):
    name: ClassVar[str] = "telegram"
    provider: ClassVar[str] = "telegram"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=4096, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = TelegramConfig
    config: TelegramConfig

    async def send(self, message: Message) -> Delivery:
        response = await self.request(build_request(self.config, message))
        data = json_body(response) or {}
        result = data.get("result") if data.get("ok") else None
        if not isinstance(result, dict) or "message_id" not in result:
            raise PermanentDeliveryError("telegram answered without a message_id",
                                         status=response.status_code, body=response.text)
        return Delivery(provider_id=str(result["message_id"]),
                        detail={"chat_id": (result.get("chat") or {}).get("id")})
