"""Instagram: container then publish, the card image for text updates, Graph errors classified."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest

from channels.base import Message
from channels.instagram import InstagramChannel, InstagramConfig
from orchestrator.errors import PermanentDeliveryError, TransientDeliveryError
from orchestrator.models import EnvStr

CONFIG = InstagramConfig(kind="instagram", ig_user_id="1784", access_token=EnvStr("tok"),
                         default_image_url="https://static.example.com/card.png",
                         base_url="http://graph.test")


def _graph(calls: list, publish_status: int = 200):
    def handler(request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        calls.append((request.url.path, form))
        if request.url.path.endswith("/media"):
            return httpx.Response(200, json={"id": "c1"})
        if publish_status != 200:
            return httpx.Response(publish_status, json={"error": {
                "message": "Application request limit reached", "code": 4, "is_transient": True}})
        return httpx.Response(200, json={"id": "m1"})
    return handler


async def test_text_update_goes_out_on_the_card_image() -> None:
    calls: list = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(_graph(calls))) as http:
        delivery = await InstagramChannel("instagram", CONFIG, http=http).send(
            Message(idempotency_key="k", body="We are back"))
    assert delivery.provider_id == "m1"
    assert calls == [
        ("/v21.0/1784/media", {"image_url": "https://static.example.com/card.png",
                               "caption": "We are back", "access_token": "tok"}),
        ("/v21.0/1784/media_publish", {"creation_id": "c1", "access_token": "tok"}),
    ]


async def test_throttling_is_transient() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(_graph([], 400))) as http:
        with pytest.raises(TransientDeliveryError):
            await InstagramChannel("instagram", CONFIG, http=http).send(
                Message(idempotency_key="k", body="x"))


async def test_caption_over_the_limit_is_refused_before_sending() -> None:
    calls: list = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(_graph(calls))) as http:
        with pytest.raises(PermanentDeliveryError):
            await InstagramChannel("instagram", CONFIG, http=http).send(
                Message(idempotency_key="k", body="x" * 2201))
    assert calls == []


def test_a_facebook_outage_takes_instagram_down() -> None:
    assert CONFIG.depends_on == ["instagram", "facebook"]


async def test_publishes_at_the_sandbox() -> None:
    from orchestrator.sandbox import Sandbox

    async with Sandbox() as sandbox:
        config = CONFIG.model_copy(update={"base_url": sandbox.base_url("facebook")})
        channel = InstagramChannel("instagram", config)
        try:
            delivery = await channel.send(Message(idempotency_key="k", body="Facebook is down"))
        finally:
            await channel.aclose()
        [media] = sandbox.facebook.media
    assert media == {"id": delivery.provider_id, "ig_user_id": "1784",
                     "image_url": "https://static.example.com/card.png",
                     "caption": "Facebook is down"}
