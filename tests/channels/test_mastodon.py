"""Mastodon channel: exact request, idempotent resend and reconcile, and error classification."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from channels.base import Message
from channels.mastodon import MastodonChannel, MastodonConfig, build_payload, build_request
from orchestrator.errors import (
    AmbiguousDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from orchestrator.sandbox.mastodon import MastodonSandbox
from tests.channels.providers import refused_url, serve


def config(base_url: str = "https://social.example/sub", **overrides) -> MastodonConfig:
    return MastodonConfig.model_validate(
        {"kind": "mastodon", "base_url": base_url, "token": SecretStr("tok"), **overrides})


MESSAGE = Message(idempotency_key="run1:step2:mastodon", body="Facebook is down; we are on it.")


def test_payload():
    assert build_payload(config(), MESSAGE) == {
        "status": "Facebook is down; we are on it.", "visibility": "public"}
    reply = Message(idempotency_key="k", body="Update", reply_to="1099")
    assert build_payload(config(visibility="unlisted"), reply) == {
        "status": "Update", "visibility": "unlisted", "in_reply_to_id": "1099"}


def test_request_headers_and_url():
    request = build_request(config(), MESSAGE)
    assert request.method == "POST"
    assert str(request.url) == "https://social.example/sub/api/v1/statuses"
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["Idempotency-Key"] == "run1:step2:mastodon"
    assert request.headers["Content-Type"] == "application/json"


def test_too_long_refused_before_sending():
    with pytest.raises(PermanentDeliveryError, match="501 characters, over the limit of 500"):
        build_payload(config(), Message(idempotency_key="k", body="x" * 501))


@pytest.fixture
def sandbox():
    with serve(MastodonSandbox) as served:
        yield served


async def test_post_is_recorded_exactly(sandbox):
    async with MastodonChannel("mastodon-main", config(sandbox.url)) as channel:
        delivery = await channel.send(MESSAGE)
    [recorded] = sandbox.requests(path_contains="/statuses")
    assert recorded.path == "/api/v1/statuses"
    assert recorded.json == {"status": "Facebook is down; we are on it.", "visibility": "public"}
    assert recorded.headers["idempotency-key"] == "run1:step2:mastodon"
    assert recorded.headers["authorization"] == "Bearer tok"
    assert delivery.provider_id == sandbox.app.statuses[0]["id"]
    assert delivery.detail["url"].endswith(delivery.provider_id)


async def test_same_message_twice_makes_one_status(sandbox):
    async with MastodonChannel("m", config(sandbox.url)) as channel:
        first = await channel.send(MESSAGE)
        second = await channel.send(MESSAGE)
    assert len(sandbox.requests(path_contains="/statuses")) == 2
    assert len(sandbox.app.statuses) == 1
    assert first.provider_id == second.provider_id


async def test_read_timeout_is_ambiguous_and_reconcile_returns_the_same_status(sandbox):
    sandbox.script.accept_then_timeout("mastodon", seconds=5)
    async with MastodonChannel("m", config(sandbox.url, timeout="300ms")) as channel:
        with pytest.raises(AmbiguousDeliveryError):
            await channel.send(MESSAGE)
        delivery = await channel.reconcile(MESSAGE)
    assert [s["id"] for s in sandbox.app.statuses] == [delivery.provider_id]


async def test_rate_limit_reset_is_an_iso_time(sandbox):
    sandbox.script.rate_limit("mastodon", retry_after=30)
    async with MastodonChannel("m", config(sandbox.url)) as channel:
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(MESSAGE)
    assert caught.value.status == 429
    assert 28 <= caught.value.retry_after <= 31
    assert sandbox.app.statuses == []


@pytest.mark.parametrize("status, error", [
    pytest.param(500, TransientDeliveryError, id="5xx"),
    pytest.param(503, TransientDeliveryError, id="503"),
    pytest.param(401, PermanentDeliveryError, id="401"),
    pytest.param(403, PermanentDeliveryError, id="403"),
])
async def test_error_classes(sandbox, status, error):
    sandbox.script.fail("mastodon", status)
    async with MastodonChannel("m", config(sandbox.url)) as channel:
        with pytest.raises(error) as caught:
            await channel.send(MESSAGE)
    assert caught.value.status == status


async def test_connection_refused_is_transient():
    async with MastodonChannel("m", config(refused_url())) as channel:
        with pytest.raises(TransientDeliveryError, match="nothing was sent"):
            await channel.send(MESSAGE)


async def test_batch_returns_errors_in_place(sandbox):
    sandbox.script.fail("mastodon", 500)
    second = Message(idempotency_key="k2", body="second")
    async with MastodonChannel("m", config(sandbox.url)) as channel:
        results = await channel.send_batch([MESSAGE, second])
    assert isinstance(results[0], TransientDeliveryError)
    assert results[1].provider_id == sandbox.app.statuses[0]["id"]


async def test_passed_client_is_not_closed(sandbox):
    import httpx

    async with httpx.AsyncClient() as http:
        channel = MastodonChannel("m", config(sandbox.url), http=http)
        await channel.send(MESSAGE)
        await channel.aclose()
        assert not http.is_closed
    assert config().timeout == timedelta(seconds=15)
