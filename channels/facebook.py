"""Public posts to a Facebook Page feed through the Graph API."""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

from pydantic import Field

from channels.base import Capabilities, ChannelConfig, Delivery, Message
from channels.http import raise_for_status, retry_after
from channels.transport import HttpChannel, check_length, join_url, json_body
from orchestrator.errors import PermanentDeliveryError, TransientDeliveryError
from orchestrator.lazy import httpx
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


def regain_after(headers: httpx.Headers) -> float | None:
    """Seconds until access returns, from X-Business-Use-Case-Usage (given in minutes)."""
    try:
        usage = json.loads(headers.get("x-business-use-case-usage", ""))
        minutes = max(entry.get("estimated_time_to_regain_access", 0)
                      for entries in usage.values() for entry in entries)
    except (ValueError, AttributeError, TypeError):
        return None
    return float(minutes) * 60 if minutes else None


def graph_error(response: httpx.Response) -> dict[str, Any] | None:
    error = (json_body(response) or {}).get("error") if response.status_code >= 400 else None
    return error if isinstance(error, dict) else None


def classify(response: httpx.Response) -> None:
    """Graph API errors say in their body whether they are throttling or transient, whatever
    the HTTP status (throttling often arrives as 400 or 403)."""
    error = graph_error(response)
    if error is None:
        raise_for_status(response.status_code, response.headers, response.text, "facebook")
        return
    code = error.get("code")
    if error.get("is_transient") or code in _THROTTLE_CODES or response.status_code >= 500:
        raise TransientDeliveryError(
            f"facebook asked to retry later (code {code})", status=response.status_code,
            code=code, body=response.text,
            retry_after=regain_after(response.headers) or retry_after(response.headers))
    raise PermanentDeliveryError(f"facebook refused the post: {error.get('message')}",
                                 status=response.status_code, code=code, body=response.text)


class FacebookChannel(HttpChannel):
    name: ClassVar[str] = "facebook"
    provider: ClassVar[str] = "facebook"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=63206, media=True, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = FacebookConfig
    config: FacebookConfig

    async def send(self, message: Message) -> Delivery:
        response = await self.request(build_request(self.config, message))
        data = json_body(response) or {}
        if "id" not in data:
            raise PermanentDeliveryError("facebook answered without a post id",
                                         status=response.status_code, body=response.text)
        return Delivery(provider_id=str(data["id"]))

    def raise_for_response(self, response: httpx.Response) -> None:
        classify(response)
