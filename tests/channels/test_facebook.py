"""Facebook channel: exact Graph API form, and Graph's own way of saying "slow down"."""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import SecretStr

from channels.base import Message
from channels.facebook import (
    FacebookChannel,
    FacebookConfig,
    build_payload,
    build_request,
    classify,
    regain_after,
)
from orchestrator.errors import PermanentDeliveryError, TransientDeliveryError
from orchestrator.sandbox.facebook import FacebookSandbox
from tests.channels.providers import serve


def config(base_url: str | None = None) -> FacebookConfig:
    return FacebookConfig.model_validate({
        "kind": "facebook", "page_id": "1234567890", "page_access_token": SecretStr("EAAB"),
        "base_url": base_url})


MESSAGE = Message(idempotency_key="k", body="Our page is back & running")


def test_payload_and_request():
    assert build_payload(config(), MESSAGE) == {
        "message": "Our page is back & running", "access_token": "EAAB"}
    request = build_request(config(), MESSAGE)
    assert str(request.url) == "https://graph.facebook.com/v21.0/1234567890/feed"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.content == b"message=Our+page+is+back+%26+running&access_token=EAAB"


def graph(status: int, error: dict, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": error}, headers=headers)


def test_throttle_with_business_usage_header():
    usage = {"1234567890": [{"type": "pages", "call_count": 100,
                             "estimated_time_to_regain_access": 3}]}
    response = graph(400, {"message": "(#32) Page request limit reached", "code": 32},
                     {"X-Business-Use-Case-Usage": json.dumps(usage)})
    assert regain_after(response.headers) == 180.0
    with pytest.raises(TransientDeliveryError) as caught:
        classify(response)
    assert caught.value.retry_after == 180.0 and caught.value.code == 32


@pytest.mark.parametrize("status, error, expected", [
    pytest.param(400, {"message": "Invalid OAuth access token", "code": 190},
                 PermanentDeliveryError, id="expired-token"),
    pytest.param(400, {"message": "Please retry", "code": 2, "is_transient": True},
                 TransientDeliveryError, id="is-transient"),
    pytest.param(403, {"message": "(#4) Application request limit reached", "code": 4},
                 TransientDeliveryError, id="app-limit-as-403"),
    pytest.param(500, {"message": "boom", "code": 1}, TransientDeliveryError, id="5xx"),
])
def test_classify_graph_errors(status, error, expected):
    with pytest.raises(expected):
        classify(graph(status, error))


def test_success_and_non_graph_errors():
    classify(httpx.Response(200, json={"id": "1_2"}))
    with pytest.raises(PermanentDeliveryError):
        classify(httpx.Response(401, text="<html>nope</html>"))


@pytest.fixture
def sandbox():
    with serve(FacebookSandbox) as served:
        yield served


async def test_post_recorded(sandbox):
    async with FacebookChannel("fb", config(sandbox.url)) as channel:
        delivery = await channel.send(MESSAGE)
    [recorded] = sandbox.requests()
    assert (recorded.method, recorded.path) == ("POST", "/v21.0/1234567890/feed")
    assert recorded.form == {"message": "Our page is back & running", "access_token": "EAAB"}
    assert recorded.query == {}  # the token never travels in the URL
    assert delivery.provider_id == sandbox.app.posts[0]["id"]


async def test_rate_limit_from_the_sandbox(sandbox):
    sandbox.script.rate_limit("facebook", retry_after=120)
    async with FacebookChannel("fb", config(sandbox.url)) as channel:
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(MESSAGE)
    assert caught.value.retry_after == 120.0
    assert sandbox.app.posts == []


async def test_5xx_is_transient(sandbox):
    sandbox.script.fail("facebook", 500)
    async with FacebookChannel("fb", config(sandbox.url)) as channel:
        with pytest.raises(TransientDeliveryError):
            await channel.send(MESSAGE)
