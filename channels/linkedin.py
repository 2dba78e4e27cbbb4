"""Public posts to a LinkedIn organisation page through the versioned REST Posts API."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from channels.base import Capabilities, ChannelConfig
from orchestrator.models import Secret


class LinkedinConfig(ChannelConfig):
    kind: Literal["linkedin"]
    access_token: Secret
    author: str = Field(pattern=r"^urn:li:(organization|person):\S+$")
    version: str = Field(default="202411", pattern=r"^\d{6}$")
    depends_on: list[str] = ["linkedin"]


class LinkedinChannel:
    name: ClassVar[str] = "linkedin"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=3000, media=True, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = LinkedinConfig
