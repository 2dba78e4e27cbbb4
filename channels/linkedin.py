"""Public posts to a LinkedIn organisation page through the versioned REST Posts API."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field

from channels.base import Capabilities, ChannelConfig, Delivery, Message
from channels.transport import HttpChannel, check_length, join_url
from orchestrator.errors import PermanentDeliveryError
from orchestrator.lazy import httpx
from orchestrator.models import Secret

DEFAULT_BASE_URL = "https://api.linkedin.com"
MAX_LENGTH = 3000
# `commentary` is "little text": these characters are markup unless backslash-escaped,
# and an unescaped one makes LinkedIn drop or mangle the rest of the post.
_RESERVED = re.compile(r"([\\|{}@\[\]()<>#*_~])")


class LinkedinConfig(ChannelConfig):
    kind: Literal["linkedin"]
    access_token: Secret
    author: str = Field(pattern=r"^urn:li:(organization|person):\S+$")
    version: str = Field(default="202411", pattern=r"^\d{6}$")
    depends_on: list[str] = ["linkedin"]


def escape_little_text(text: str) -> str:
    """Escape LinkedIn's little-text reserved characters so the text shows as written."""
    return _RESERVED.sub(r"\\\1", text)


def build_payload(config: LinkedinConfig, message: Message) -> dict[str, Any]:
    """The JSON body of `POST /rest/posts` for a public text post on the main feed."""
    commentary = escape_little_text(message.body)
    # Checked after escaping: the limit applies to the field as sent, backslashes included.
    check_length(commentary, MAX_LENGTH, "linkedin")
    return {
        "author": config.author,
        "commentary": commentary,
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }


def build_request(config: LinkedinConfig, message: Message) -> httpx.Request:
    """The whole Posts request with the version headers LinkedIn requires."""
    return httpx.Request(
        "POST", join_url(config.base_url or DEFAULT_BASE_URL, "/rest/posts"),
        json=build_payload(config, message),
        headers={"Authorization": f"Bearer {config.access_token.get_secret_value()}",
                 "LinkedIn-Version": config.version,
                 "X-Restli-Protocol-Version": "2.0.0"})


class LinkedinChannel(HttpChannel):
    name: ClassVar[str] = "linkedin"
    provider: ClassVar[str] = "linkedin"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=3000, media=True, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = LinkedinConfig
    config: LinkedinConfig

    async def send(self, message: Message) -> Delivery:
        response = await self.request(build_request(self.config, message))
        # The new post's URN comes back in a header; the 201 body is empty.
        post_id = response.headers.get("x-restli-id") or response.headers.get("x-linkedin-id")
        if not post_id:
            raise PermanentDeliveryError("linkedin answered without an x-restli-id header",
                                         status=response.status_code, body=response.text)
        return Delivery(provider_id=post_id)
