"""Messages to a Microsoft Teams channel through an incoming webhook."""

from __future__ import annotations

from typing import ClassVar, Literal

from channels.base import Capabilities, ChannelConfig
from orchestrator.models import Secret


class TeamsConfig(ChannelConfig):
    kind: Literal["teams"]
    webhook_url: Secret
    depends_on: list[str] = ["teams"]


class TeamsChannel:
    name: ClassVar[str] = "teams"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=28000, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = TeamsConfig
