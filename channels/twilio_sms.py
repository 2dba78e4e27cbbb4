"""SMS through Twilio's Messages API, using the official `twilio` SDK's async client."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from channels.base import Capabilities, ChannelConfig
from orchestrator.models import HttpUrl, Secret


class TwilioSmsConfig(ChannelConfig):
    kind: Literal["twilio"]
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: Secret
    from_: str | None = Field(default=None, alias="from", pattern=r"^\+[1-9]\d{6,14}$")
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    status_callback: HttpUrl | None = None
    depends_on: list[str] = ["twilio"]

    @model_validator(mode="after")
    def _one_sender(self):
        if (self.from_ is None) == (self.messaging_service_sid is None):
            raise ValueError("give exactly one of 'from' (an E.164 number) "
                             "or 'messaging_service_sid'")
        return self


class TwilioSmsChannel:
    name: ClassVar[str] = "twilio"
    capabilities: ClassVar[Capabilities] = Capabilities(
        direct=True, address="phone", max_length=1600, default_rate=10.0)
    Config: ClassVar[type[ChannelConfig]] = TwilioSmsConfig
