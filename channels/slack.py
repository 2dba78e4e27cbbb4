"""Messages to a Slack channel through an incoming webhook."""

from __future__ import annotations

from typing import ClassVar, Literal

from channels.base import Capabilities, ChannelConfig
from orchestrator.models import Secret


class SlackConfig(ChannelConfig):
    kind: Literal["slack"]
    webhook_url: Secret
    depends_on: list[str] = ["slack"]


class SlackChannel:
    name: ClassVar[str] = "slack"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=40000, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = SlackConfig
