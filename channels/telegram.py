"""Messages to a Telegram chat or channel through the Bot API's sendMessage."""

from __future__ import annotations

from typing import ClassVar, Literal

from channels.base import Capabilities, ChannelConfig
from orchestrator.models import Secret


class TelegramConfig(ChannelConfig):
    kind: Literal["telegram"]
    bot_token: Secret
    chat_id: str
    depends_on: list[str] = ["telegram"]


class TelegramChannel:
    name: ClassVar[str] = "telegram"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=4096, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = TelegramConfig
