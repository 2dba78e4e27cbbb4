"""Public posts to X through API v2 `POST /2/tweets`, signed with OAuth 1.0a user context."""

from __future__ import annotations

from typing import ClassVar, Literal

from channels.base import Capabilities, ChannelConfig
from orchestrator.models import Secret


class XConfig(ChannelConfig):
    kind: Literal["x"]
    consumer_key: Secret
    consumer_secret: Secret
    access_token: Secret
    access_token_secret: Secret
    depends_on: list[str] = ["x"]


class XChannel:
    name: ClassVar[str] = "x"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=280, threading=True, default_rate=0.5)
    Config: ClassVar[type[ChannelConfig]] = XConfig
