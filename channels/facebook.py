"""Public posts to a Facebook Page feed through the Graph API."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from channels.base import Capabilities, ChannelConfig
from orchestrator.models import Secret


class FacebookConfig(ChannelConfig):
    kind: Literal["facebook"]
    page_id: str = Field(pattern=r"^\d+$")
    page_access_token: Secret
    graph_version: str = Field(default="v21.0", pattern=r"^v\d+\.\d+$")
    depends_on: list[str] = ["facebook"]


class FacebookChannel:
    name: ClassVar[str] = "facebook"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=63206, media=True, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = FacebookConfig
