"""A JSON POST to any URL, signed with an HMAC-SHA256 header so the receiver can trust it."""

from __future__ import annotations

from typing import ClassVar, Literal

from channels.base import Capabilities, ChannelConfig
from orchestrator.models import HttpUrl, Secret


class WebhookConfig(ChannelConfig):
    kind: Literal["webhook"]
    url: HttpUrl
    secret: Secret | None = None
    headers: dict[str, str] = {}
    allow_private: bool = False


class WebhookChannel:
    name: ClassVar[str] = "webhook"
    capabilities: ClassVar[Capabilities] = Capabilities(broadcast=True, default_rate=5.0)
    Config: ClassVar[type[ChannelConfig]] = WebhookConfig
