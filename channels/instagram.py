"""Public posts to an Instagram professional account through the Graph API's content publishing."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from channels.base import Capabilities, ChannelConfig
from orchestrator.models import Secret


class InstagramConfig(ChannelConfig):
    kind: Literal["instagram"]
    ig_user_id: str = Field(pattern=r"^\d+$")
    access_token: Secret
    graph_version: str = Field(default="v21.0", pattern=r"^v\d+\.\d+$")
    depends_on: list[str] = ["instagram"]


class InstagramChannel:
    name: ClassVar[str] = "instagram"
    # Instagram publishes media with a caption; a text-only update needs an image URL.
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=2200, media=True, default_rate=0.2)
    Config: ClassVar[type[ChannelConfig]] = InstagramConfig
