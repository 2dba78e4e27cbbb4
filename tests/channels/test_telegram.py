"""Telegram channel: sendMessage body, UTF-16 length, and parameters.retry_after."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from channels.base import Message
from channels.telegram import TelegramChannel, TelegramConfig, build_payload, build_request
from orchestrator.errors import PermanentDeliveryError, TransientDeliveryError
from orchestrator.sandbox.chat import TelegramSandbox
from tests.channels.providers import serve

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ"


def config(base_url: str | None = None, chat_id: str = "@brand_status") -> TelegramConfig:
    return TelegramConfig.model_validate({"kind": "telegram", "bot_token": SecretStr(TOKEN),
                                          "chat_id": chat_id, "base_url": base_url})


def test_payload_and_request():
    message = Message(idempotency_key="k", body="X is down <b>", reply_to="42")
    assert build_payload(config(), message) == {
        "chat_id": "@brand_status", "text": "X is down <b>",
        "reply_parameters": {"message_id": 42, "allow_sending_without_reply": True}}
    assert str(build_request(config(), message).url) == (
        f"https://api.telegram.org/bot{TOKEN}/sendMessage")


def test_length_in_utf16_units():
    build_payload(config(), Message(idempotency_key="k", body="\U0001F600" * 2048))
    with pytest.raises(PermanentDeliveryError, match="4098 UTF-16 code units"):
        build_payload(config(), Message(idempotency_key="k", body="\U0001F600" * 2049))


@pytest.fixture
def sandbox():
    with serve(TelegramSandbox) as served:
        yield served


async def test_post_recorded(sandbox):
    async with TelegramChannel("tg", config(sandbox.url, "-1001234")) as channel:
        delivery = await channel.send(Message(idempotency_key="k", body="X is down"))
    [recorded] = sandbox.requests()
    assert recorded.path == f"/bot{TOKEN}/sendMessage"
    assert recorded.json == {"chat_id": "-1001234", "text": "X is down"}
    assert delivery.provider_id == "1"
    assert delivery.detail == {"chat_id": -1001234}


async def test_retry_after_from_parameters(sandbox):
    sandbox.script.rate_limit("telegram", retry_after=9)
    async with TelegramChannel("tg", config(sandbox.url)) as channel:
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(Message(idempotency_key="k", body="hi"))
    assert caught.value.retry_after == 9


async def test_blocked_bot_is_permanent(sandbox):
    sandbox.script.reject("telegram", "@brand_status", 403)
    async with TelegramChannel("tg", config(sandbox.url)) as channel:
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(Message(idempotency_key="k", body="hi"))
    assert caught.value.status == 403
    assert TOKEN not in str(caught.value)
