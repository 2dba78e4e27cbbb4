"""Public posts to a Mastodon account (statuses API, with the outbox key as Idempotency-Key)."""

from __future__ import annotations

from typing import ClassVar, Literal

from channels.base import Capabilities, ChannelConfig
from orchestrator.models import HttpUrl, Secret


class MastodonConfig(ChannelConfig):
    kind: Literal["mastodon"]
    base_url: HttpUrl
    token: Secret
    visibility: Literal["public", "unlisted", "private"] = "public"
    max_length: int = 500


class MastodonChannel:
    name: ClassVar[str] = "mastodon"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=500, threading=True, media=True, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = MastodonConfig
