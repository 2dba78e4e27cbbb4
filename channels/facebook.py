"""Public posts to a Facebook Page feed through the Graph API."""

from __future__ import annotations

import json
from typing import ClassVar, Literal

import httpx
from pydantic import Field

from channels.base import Capabilities, ChannelConfig, Delivery, Message
from channels.transport import HttpChannel, check_length, join_url, json_body
from orchestrator.errors import PermanentDeliveryError, TransientDeliveryError
from orchestrator.models import Secret

DEFAULT_BASE_URL = "https://graph.facebook.com"
MAX_LENGTH = 63206
# Graph API error codes that mean "slow down" although the HTTP status is 400 or 403:
# 4 app limit, 17 user limit, 32 page limit, 613 call-rate limit, 80001 page business limit.
_THROTTLE_CODES = {4, 17, 32, 613, 80001}


class FacebookConfig(ChannelConfig):
    kind: Literal["facebook"]
    page_id: str = Field(pattern=r"^\d+$")
    page_access_token: Secret
    graph_version: str = Field(default="v21.0", pattern=r"^v\d+\.\d+$")
    depends_on: list[str] = ["facebook"]


def build_payload(config: FacebookConfig, message: Message) -> dict[str, str]:
    """The form fields of `POST /{version}/{page_id}/feed` (the token in the body, not the URL)."""
    check_length(message.body, MAX_LENGTH, "facebook")
    return {"message": message.body, "access_token": config.page_access_token.get_secret_value()}


def build_request(config: FacebookConfig, message: Message) -> httpx.Request:
    url = join_url(config.base_url or DEFAULT_BASE_URL,
                   f"/{config.graph_version}/{config.page_id}/feed")
    return httpx.Request("POST", url, data=build_payload(config, message))


def reclassify(exc: PermanentDeliveryError) -> PermanentDeliveryError | TransientDeliveryError:
    """Graph API errors say in their body whether they are throttling or transient."""
    try:
        error = json.loads(exc.body or "").get("error")
    except (ValueError, AttributeError):
        return exc
    if not isinstance(error, dict):
        return exc
    if error.get("is_transient") or error.get("code") in _THROTTLE_CODES:
        return TransientDeliveryError(
            f"facebook asked to retry later (code {error.get('code')})",
            status=exc.status, code=error.get("code"), body=exc.body)
    return PermanentDeliveryError(f"facebook refused the post: {error.get('message')}",
                                  status=exc.status, code=error.get("code"), body=exc.body)


class FacebookChannel(HttpChannel):
    name: ClassVar[str] = "facebook"
    provider: ClassVar[str] = "facebook"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=63206, media=True, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = FacebookConfig
    config: FacebookConfig

    async def send(self, message: Message) -> Delivery:
        try:
            response = await self.request(build_request(self.config, message))
        except PermanentDeliveryError as exc:
            raise reclassify(exc) from exc
        data = json_body(response) or {}
        if "id" not in data:
            raise PermanentDeliveryError("facebook answered without a post id",
                                         status=response.status_code, body=response.text)
        return Delivery(provider_id=str(data["id"]))
