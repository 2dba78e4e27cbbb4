"""Public posts to an Instagram professional account through the Graph API's content publishing.

Instagram publishes media with a caption, never bare text: a status update goes out as the
configured `default_image_url` (a brand "service notice" card) with the update as its
caption, unless the message carries its own `media_url`. Publishing is two calls: create a
media container, then publish it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from channels.base import Capabilities, ChannelConfig, Delivery, Message
from channels.facebook import DEFAULT_BASE_URL, classify
from channels.transport import HttpChannel, check_length, join_url, json_body
from orchestrator.errors import PermanentDeliveryError
from orchestrator.lazy import httpx
from orchestrator.models import HttpUrl, Secret

MAX_CAPTION = 2200


class InstagramConfig(ChannelConfig):
    kind: Literal["instagram"]
    ig_user_id: str = Field(pattern=r"^\d+$")
    access_token: Secret
    default_image_url: HttpUrl   # the card posted with text-only updates
    graph_version: str = Field(default="v21.0", pattern=r"^v\d+\.\d+$")
    # Publishing goes through Facebook's Graph API: a Facebook outage takes it down too.
    depends_on: list[str] = ["instagram", "facebook"]


def _url(config: InstagramConfig, edge: str) -> str:
    return join_url(config.base_url or DEFAULT_BASE_URL,
                    f"/{config.graph_version}/{config.ig_user_id}/{edge}")


def build_container_request(config: InstagramConfig, message: Message) -> httpx.Request:
    """`POST /{version}/{ig_user_id}/media`: an image container captioned with the message."""
    check_length(message.body, MAX_CAPTION, "instagram")
    image = message.metadata.get("media_url") or config.default_image_url
    return httpx.Request("POST", _url(config, "media"), data={
        "image_url": image, "caption": message.body,
        "access_token": config.access_token.get_secret_value()})


def build_publish_request(config: InstagramConfig, creation_id: str) -> httpx.Request:
    return httpx.Request("POST", _url(config, "media_publish"), data={
        "creation_id": creation_id, "access_token": config.access_token.get_secret_value()})


class InstagramChannel(HttpChannel):
    name: ClassVar[str] = "instagram"
    provider: ClassVar[str] = "instagram"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=MAX_CAPTION, media=True, default_rate=0.2)
    Config: ClassVar[type[ChannelConfig]] = InstagramConfig
    config: InstagramConfig

    async def send(self, message: Message) -> Delivery:
        created = json_body(await self.request(build_container_request(self.config, message)))
        if not isinstance(created, dict) or "id" not in created:
            raise PermanentDeliveryError("instagram answered without a container id")
        # A retry after a failed publish makes a fresh container; unpublished ones expire.
        response = await self.request(build_publish_request(self.config, str(created["id"])))
        data = json_body(response) or {}
        if "id" not in data:
            raise PermanentDeliveryError("instagram published without a media id",
                                         status=response.status_code, body=response.text)
        return Delivery(provider_id=str(data["id"]), detail={"container": str(created["id"])})

    def raise_for_response(self, response: httpx.Response) -> None:
        classify(response)
