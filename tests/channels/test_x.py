"""X channel: RFC 5849 signing against X's published example, exact requests, rate limits."""

from __future__ import annotations

import time
from urllib.parse import unquote

import pytest
from pydantic import SecretStr

from channels.base import Message
from channels.x import (
    XChannel,
    XConfig,
    build_payload,
    build_request,
    oauth1_header,
    oauth1_signature,
    weighted_length,
)
from orchestrator.errors import PermanentDeliveryError, TransientDeliveryError
from orchestrator.sandbox.x import XSandbox, oauth_params
from tests.channels.providers import serve

# "Creating a signature" in X's (Twitter's) OAuth 1.0a documentation.
DOC_KEYS = dict(consumer_key="xvz1evFS4wEEPTGEFPHBog",
                consumer_secret="kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
                token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
                token_secret="LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE")
DOC_NONCE = "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"
DOC_SIGNATURE = "hCtSmYh+iHYCEqBWrE7C7hYmtUk="


def config(base_url: str | None = None) -> XConfig:
    return XConfig.model_validate({
        "kind": "x", "consumer_key": SecretStr("ck"), "consumer_secret": SecretStr("cs"),
        "access_token": SecretStr("at"), "access_token_secret": SecretStr("ats"),
        "base_url": base_url})


def test_signature_matches_the_documented_example():
    params = [("status", "Hello Ladies + Gentlemen, a signed OAuth request!"),
              ("include_entities", "true"),
              ("oauth_consumer_key", DOC_KEYS["consumer_key"]), ("oauth_nonce", DOC_NONCE),
              ("oauth_signature_method", "HMAC-SHA1"), ("oauth_timestamp", "1318622958"),
              ("oauth_token", DOC_KEYS["token"]), ("oauth_version", "1.0")]
    assert oauth1_signature("POST", "https://api.twitter.com/1.1/statuses/update.json", params,
                            DOC_KEYS["consumer_secret"], DOC_KEYS["token_secret"]) == DOC_SIGNATURE


def test_header_signs_query_and_form_parameters():
    header = oauth1_header(
        "POST", "https://api.twitter.com/1.1/statuses/update.json?include_entities=true",
        **DOC_KEYS, nonce=DOC_NONCE, timestamp=1318622958,
        extra_params=[("status", "Hello Ladies + Gentlemen, a signed OAuth request!")])
    assert header == (
        'OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", '
        'oauth_nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", '
        'oauth_signature="hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D", '
        'oauth_signature_method="HMAC-SHA1", oauth_timestamp="1318622958", '
        'oauth_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", '
        'oauth_version="1.0"')


def test_base_uri_normalisation_does_not_change_the_signature():
    args = dict(**DOC_KEYS, nonce="n", timestamp=1)
    assert (oauth1_header("POST", "HTTPS://API.X.COM:443/2/tweets", **args)
            == oauth1_header("POST", "https://api.x.com/2/tweets", **args))


def test_payload_and_request():
    message = Message(idempotency_key="k", body="We are back", reply_to="1790")
    assert build_payload(config(), message) == {
        "text": "We are back", "reply": {"in_reply_to_tweet_id": "1790"}}
    request = build_request(config(), message, nonce="abc", timestamp=1700000000)
    assert str(request.url) == "https://api.x.com/2/tweets"
    assert request.content == b'{"text":"We are back","reply":{"in_reply_to_tweet_id":"1790"}}'
    params = oauth_params(request.headers["Authorization"])
    # The JSON body is not part of the signature; only the oauth_* parameters are.
    assert unquote(params["oauth_signature"]) == oauth1_signature(
        "POST", "https://api.x.com/2/tweets",
        [("oauth_consumer_key", "ck"), ("oauth_nonce", "abc"),
         ("oauth_signature_method", "HMAC-SHA1"), ("oauth_timestamp", "1700000000"),
         ("oauth_token", "at"), ("oauth_version", "1.0")], "cs", "ats")


@pytest.mark.parametrize("text, weight", [
    pytest.param("hello", 5, id="latin"),
    pytest.param("日本語", 6, id="cjk-weighs-two"),
    pytest.param("\U0001F468\u200d\U0001F469\u200d\U0001F467 ok", 5, id="emoji-sequence"),
    pytest.param("see https://example.com/a/very/long/path/indeed ok", 30, id="url-is-23"),
])
def test_weighted_length(text, weight):
    assert weighted_length(text) == weight


def test_too_long_refused():
    build_payload(config(), Message(idempotency_key="k", body="語" * 140))
    with pytest.raises(PermanentDeliveryError, match="282 weighted characters"):
        build_payload(config(), Message(idempotency_key="k", body="語" * 141))


@pytest.fixture
def sandbox():
    with serve(XSandbox) as served:
        yield served


async def test_tweet_with_well_formed_oauth_header(sandbox):
    async with XChannel("x", config(sandbox.url)) as channel:
        delivery = await channel.send(Message(idempotency_key="k", body="Status update"))
    [recorded] = sandbox.requests()
    assert (recorded.method, recorded.path) == ("POST", "/2/tweets")
    assert recorded.json == {"text": "Status update"}
    params = oauth_params(recorded.headers["authorization"])
    assert set(params) == {"oauth_consumer_key", "oauth_nonce", "oauth_signature",
                           "oauth_signature_method", "oauth_timestamp", "oauth_token",
                           "oauth_version"}
    assert params["oauth_consumer_key"] == "ck" and params["oauth_token"] == "at"
    assert abs(int(params["oauth_timestamp"]) - time.time()) < 60
    assert delivery.provider_id == sandbox.app.tweets[0]["id"]


async def test_rate_limit_reset_epoch(sandbox):
    sandbox.script.rate_limit("x", retry_after=15)
    async with XChannel("x", config(sandbox.url)) as channel:
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(Message(idempotency_key="k", body="hi"))
    assert 13 <= caught.value.retry_after <= 16


async def test_duplicate_content_is_permanent(sandbox):
    async with XChannel("x", config(sandbox.url)) as channel:
        await channel.send(Message(idempotency_key="k", body="same"))
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(Message(idempotency_key="k2", body="same"))
    assert caught.value.status == 403
