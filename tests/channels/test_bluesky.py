"""Bluesky channel: exact records, grapheme limit, link facets, one session reused and renewed."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from channels.base import Message
from channels.bluesky import (
    BlueskyChannel,
    BlueskyConfig,
    build_payload,
    link_facets,
    reply_refs,
    session_request,
)
from channels.graphemes import count_graphemes
from orchestrator.errors import PermanentDeliveryError, TransientDeliveryError
from orchestrator.sandbox.bluesky import BlueskySandbox
from tests.channels.providers import serve

NOW = datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)
FAMILY = "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466"


def config(base_url: str | None = None) -> BlueskyConfig:
    return BlueskyConfig.model_validate({
        "kind": "bluesky", "handle": "brand.bsky.social", "app_password": SecretStr("app-pw"),
        "base_url": base_url})


def msg(body: str, key: str = "k1", **kw) -> Message:
    return Message(idempotency_key=key, body=body, **kw)


def test_payload():
    assert build_payload(config(), msg("We are back."), did="did:plc:abc", now=NOW) == {
        "repo": "did:plc:abc",
        "collection": "app.bsky.feed.post",
        "record": {"$type": "app.bsky.feed.post", "text": "We are back.",
                   "createdAt": "2026-03-01T12:30:05.123Z"},
    }


def test_link_facets_count_utf8_bytes():
    text = "État: see https://status.example.com/i/42. Thanks"
    assert link_facets(text) == [{
        "index": {"byteStart": 11, "byteEnd": 42},
        "features": [{"$type": "app.bsky.richtext.facet#link",
                      "uri": "https://status.example.com/i/42"}],
    }]
    assert text.encode()[11:42] == b"https://status.example.com/i/42"


def test_reply_refs_keep_the_thread_root():
    root = {"uri": "at://did:plc:a/app.bsky.feed.post/1", "cid": "c1"}
    parent = {"uri": "at://did:plc:a/app.bsky.feed.post/2", "cid": "c2",
              "value": {"reply": {"root": root, "parent": root}}}
    assert reply_refs(parent) == {"root": root, "parent": {"uri": parent["uri"], "cid": "c2"}}
    first = {"uri": root["uri"], "cid": "c1", "value": {"text": "hi"}}
    assert reply_refs(first) == {"root": root, "parent": root}


@pytest.mark.parametrize("text, count", [
    pytest.param("hello", 5, id="ascii"),
    pytest.param("e\u0301", 1, id="combining"),
    pytest.param(FAMILY, 1, id="zwj-family"),
    pytest.param("\U0001F1EB\U0001F1F7\U0001F1E9\U0001F1EA\U0001F1FA", 3, id="flags"),
    pytest.param("\U0001F44D\U0001F3FD", 1, id="skin-tone"),
    pytest.param("\u2764\ufe0f", 1, id="variation-selector"),
    pytest.param("1\ufe0f\u20e3", 1, id="keycap"),
    pytest.param("\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", 1,
                 id="tag-sequence"),
    pytest.param("한국어", 3, id="hangul-syllables"),
    pytest.param("\u1100\u1161\u11a8", 1, id="hangul-jamo"),
    pytest.param("a\r\nb", 3, id="crlf"),
    pytest.param("नमस्ते दुनिया", 7, id="devanagari-conjuncts"),
    pytest.param("ก้ำ", 1, id="thai"),
    pytest.param("a\u200db", 2, id="zwj-between-letters"),
])
def test_count_graphemes(text, count):
    assert count_graphemes(text) == count


def test_300_graphemes_pass_and_301_are_refused_at_build_time():
    body = FAMILY * 300  # 3,300 bytes would pass the grapheme limit but not the byte one
    assert count_graphemes(body) == 300
    with pytest.raises(PermanentDeliveryError, match="bytes"):
        build_payload(config(), msg(body), did="d", now=NOW)
    body = "é" * 299 + "\U0001F44D\U0001F3FD"  # 300 clusters, 302 code points
    build_payload(config(), msg(body), did="d", now=NOW)
    with pytest.raises(PermanentDeliveryError, match="301 graphemes, over the limit of 300"):
        build_payload(config(), msg(body + "!"), did="d", now=NOW)


def test_session_request():
    request = session_request(config("http://pds.test"))
    assert str(request.url) == "http://pds.test/xrpc/com.atproto.server.createSession"
    assert request.content == b'{"identifier":"brand.bsky.social","password":"app-pw"}'


@pytest.fixture
def sandbox():
    with serve(BlueskySandbox) as served:
        yield served


async def test_two_posts_share_one_session(sandbox):
    async with BlueskyChannel("bsky", config(sandbox.url)) as channel:
        first = await channel.send(msg("Update 1: see https://status.example.com"))
        second = await channel.send(msg("Update 2", key="k2"))
    assert len(sandbox.requests(path_contains="createSession")) == 1
    creates = sandbox.requests(path_contains="createRecord")
    assert len(creates) == 2
    body = creates[0].json
    assert body["collection"] == "app.bsky.feed.post"
    assert body["repo"] == sandbox.app.records[0]["repo"]
    assert body["record"]["text"] == "Update 1: see https://status.example.com"
    assert body["record"]["facets"][0]["features"][0]["uri"] == "https://status.example.com"
    assert datetime.fromisoformat(body["record"]["createdAt"]).tzinfo is not None
    assert creates[0].headers["authorization"] == creates[1].headers["authorization"]
    assert [first.provider_id, second.provider_id] == [r["uri"] for r in sandbox.app.records]


async def test_expired_token_is_refreshed_once(sandbox):
    async with BlueskyChannel("bsky", config(sandbox.url)) as channel:
        await channel.send(msg("one"))
        sandbox.app.expire_sessions()
        await channel.send(msg("two", key="k2"))
        await channel.send(msg("three", key="k3"))
    assert len(sandbox.requests(path_contains="createSession")) == 1
    assert len(sandbox.requests(path_contains="refreshSession")) == 1
    assert [r["record"]["text"] for r in sandbox.app.records] == ["one", "two", "three"]


async def test_301_graphemes_never_reach_the_network(sandbox):
    async with BlueskyChannel("bsky", config(sandbox.url)) as channel:
        with pytest.raises(PermanentDeliveryError, match="graphemes"):
            await channel.send(msg("x" * 301))
    assert sandbox.requests() == []


async def test_rate_limit_reset_header(sandbox):
    sandbox.script.rate_limit("bluesky", retry_after=20, path_contains="createRecord")
    async with BlueskyChannel("bsky", config(sandbox.url)) as channel:
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(msg("hi"))
    assert 18 <= caught.value.retry_after <= 21


async def test_bad_password_is_permanent(sandbox):
    sandbox.script.fail("bluesky", 401, path_contains="createSession",
                        body='{"error":"AuthenticationRequired","message":"Invalid password"}')
    async with BlueskyChannel("bsky", config(sandbox.url)) as channel:
        with pytest.raises(PermanentDeliveryError):
            await channel.send(msg("hi"))


async def test_concurrent_first_posts_log_in_once(sandbox):
    async with BlueskyChannel("bsky", config(sandbox.url)) as channel:
        await asyncio.gather(*(channel.send(msg(f"post {i}", key=f"k{i}")) for i in range(5)))
    assert len(sandbox.requests(path_contains="createSession")) == 1
    assert len(sandbox.app.records) == 5


async def test_reply_names_parent_and_root():
    # The sandbox has no getRecord, so this one exchange runs on an in-memory transport.
    root = {"uri": "at://did:plc:me/app.bsky.feed.post/1", "cid": "c1"}
    parent = {"uri": "at://did:plc:me/app.bsky.feed.post/2", "cid": "c2",
              "value": {"text": "update 1", "reply": {"root": root, "parent": root}}}
    created = []

    def answer(request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[-1]
        if method == "com.atproto.server.createSession":
            return httpx.Response(200, json={"did": "did:plc:me", "accessJwt": "a",
                                             "refreshJwt": "r"})
        if method == "com.atproto.repo.getRecord":
            assert dict(request.url.params) == {"repo": "did:plc:me",
                                                "collection": "app.bsky.feed.post", "rkey": "2"}
            return httpx.Response(200, json=parent)
        created.append(json.loads(request.content))
        return httpx.Response(200, json={"uri": "at://did:plc:me/app.bsky.feed.post/3",
                                         "cid": "c3"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        channel = BlueskyChannel("bsky", config("http://pds.test"), http=http)
        delivery = await channel.send(msg("update 2", reply_to=parent["uri"]))
    assert created[0]["record"]["reply"] == {
        "root": root, "parent": {"uri": parent["uri"], "cid": "c2"}}
    assert delivery.provider_id == "at://did:plc:me/app.bsky.feed.post/3"
    assert delivery.detail == {"cid": "c3"}
