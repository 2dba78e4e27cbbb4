"""The long tail of services through Apprise URLs (installed separately: `pip install apprise`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from channels.base import Capabilities, ChannelConfig
from orchestrator.models import Secret


class AppriseConfig(ChannelConfig):
    kind: Literal["apprise"]
    urls: list[Secret] = Field(min_length=1)


class AppriseChannel:
    name: ClassVar[str] = "apprise"
    capabilities: ClassVar[Capabilities] = Capabilities(broadcast=True, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = AppriseConfig
