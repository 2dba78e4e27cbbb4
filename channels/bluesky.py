"""Public posts to Bluesky over XRPC (createSession once, then createRecord)."""

from __future__ import annotations

from typing import ClassVar, Literal

from channels.base import Capabilities, ChannelConfig
from orchestrator.models import Secret


class BlueskyConfig(ChannelConfig):
    kind: Literal["bluesky"]
    handle: str
    app_password: Secret
    depends_on: list[str] = ["bluesky"]


class BlueskyChannel:
    name: ClassVar[str] = "bluesky"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=300, length_unit="graphemes", threading=True, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = BlueskyConfig
