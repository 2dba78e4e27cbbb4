"""Email through SendGrid's v3 mail send API, using the official `sendgrid` SDK."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import EmailStr, Field

from channels.base import Capabilities, ChannelConfig
from orchestrator.models import HttpUrl, Secret


class SendgridEmailConfig(ChannelConfig):
    kind: Literal["sendgrid"]
    api_key: Secret
    from_: EmailStr = Field(alias="from")
    from_name: str | None = None
    reply_to: EmailStr | None = None
    asm_group_id: int | None = None
    categories: list[str] = []
    unsubscribe_url: HttpUrl | None = None
    unsubscribe_mailto: EmailStr | None = None
    template_id: str | None = None
    depends_on: list[str] = ["sendgrid"]


class SendgridEmailChannel:
    name: ClassVar[str] = "sendgrid"
    capabilities: ClassVar[Capabilities] = Capabilities(
        direct=True, address="email", subject=True, max_batch=1000, default_rate=50.0)
    Config: ClassVar[type[ChannelConfig]] = SendgridEmailConfig
