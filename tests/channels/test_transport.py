"""Every httpx channel classifies transport failures the same way: refused → transient,
no answer after sending → ambiguous, a dropped connection after sending → ambiguous."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import SecretStr

from channels.base import Message
from channels.bluesky import BlueskyChannel
from channels.discord import DiscordChannel
from channels.facebook import FacebookChannel
from channels.linkedin import LinkedinChannel
from channels.mastodon import MastodonChannel
from channels.slack import SlackChannel
from channels.teams import TeamsChannel
from channels.telegram import TelegramChannel
from channels.transport import HttpChannel, join_url, rebase
from channels.x import XChannel
from orchestrator.errors import AmbiguousDeliveryError, TransientDeliveryError
from orchestrator.sandbox import PROVIDERS, Sandbox
from tests.channels.providers import refused_url, serve

S = SecretStr
CHANNELS = {
    "mastodon": (MastodonChannel, lambda: {"token": S("t")}),
    "bluesky": (BlueskyChannel, lambda: {"handle": "a.bsky.social", "app_password": S("p")}),
    "x": (XChannel, lambda: {"consumer_key": S("a"), "consumer_secret": S("b"),
                             "access_token": S("c"), "access_token_secret": S("d")}),
    "linkedin": (LinkedinChannel, lambda: {"access_token": S("t"),
                                           "author": "urn:li:organization:1"}),
    "facebook": (FacebookChannel, lambda: {"page_id": "1", "page_access_token": S("t")}),
    "slack": (SlackChannel, lambda: {"webhook_url": S("https://h.example/services/T/B/X")}),
    "discord": (DiscordChannel, lambda: {
        "webhook_url": S("https://d.example/api/webhooks/1/tok")}),
    "teams": (TeamsChannel, lambda: {"webhook_url": S("https://t.example/webhookb2/x")}),
    "telegram": (TelegramChannel, lambda: {"bot_token": S("1:" + "a" * 30), "chat_id": "5"}),
}
MESSAGE = Message(idempotency_key="k", body="Status update")


def make(kind: str, base_url: str, **extra) -> HttpChannel:
    cls, fields = CHANNELS[kind]
    config = cls.Config.model_validate({"kind": kind, "base_url": base_url, **fields(), **extra})
    return cls(kind, config)


def test_urls():
    assert join_url("http://h/p/", "/a") == "http://h/p/a"
    assert rebase("https://hooks.example/services/T/B?x=1", "http://127.0.0.1:1/s") == (
        "http://127.0.0.1:1/s/services/T/B?x=1")
    assert rebase("https://hooks.example/a", None) == "https://hooks.example/a"


@pytest.mark.parametrize("kind", CHANNELS)
async def test_connection_refused_is_transient(kind):
    async with make(kind, refused_url()) as channel:
        with pytest.raises(TransientDeliveryError, match="nothing was sent"):
            await channel.send(MESSAGE)


@pytest.mark.parametrize("kind", CHANNELS)
async def test_read_timeout_after_acceptance_is_ambiguous(kind):
    with serve(PROVIDERS[kind]) as sandbox:
        # Bluesky logs in first; only the post itself should hang.
        where = "createRecord" if kind == "bluesky" else None
        sandbox.script.accept_then_timeout(kind, seconds=5, path_contains=where)
        async with make(kind, sandbox.url, timeout="250ms") as channel:
            with pytest.raises(AmbiguousDeliveryError, match="may have been accepted"):
                await channel.send(MESSAGE)
        accepted = [r for r in sandbox.requests() if r.outcome == "accept_then_timeout"]
        assert len(accepted) == 1 and accepted[0].status is not None and accepted[0].status < 300


async def test_connection_dropped_after_the_request_is_ambiguous():
    received = asyncio.Event()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        received.set()
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with make("slack", f"http://127.0.0.1:{port}") as channel:
            with pytest.raises(AmbiguousDeliveryError) as caught:
                await channel.send(MESSAGE)
        assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
        assert received.is_set()
    finally:
        server.close()
        await server.wait_closed()


async def test_every_channel_posts_through_the_combined_sandbox():
    # One server with a path prefix per provider, as the demo runs it: base URLs with a
    # path must keep that path.
    with Sandbox() as sandbox:
        for kind in CHANNELS:
            async with make(kind, sandbox.base_url(kind)) as channel:
                await channel.send(Message(idempotency_key=kind, body=f"hello {kind}"))
        posted = {r.provider for r in sandbox.requests() if r.status is not None
                  and r.status < 300 and "createSession" not in r.path}
    assert posted == set(CHANNELS)
