"""Messages to a Discord channel through a webhook (`?wait=true` to get the message id)."""

from __future__ import annotations

from typing import ClassVar, Literal

from channels.base import Capabilities, ChannelConfig
from orchestrator.models import Secret


class DiscordConfig(ChannelConfig):
    kind: Literal["discord"]
    webhook_url: Secret
    username: str | None = None
    depends_on: list[str] = ["discord"]


class DiscordChannel:
    name: ClassVar[str] = "discord"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=2000, default_rate=0.5)
    Config: ClassVar[type[ChannelConfig]] = DiscordConfig
