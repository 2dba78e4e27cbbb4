"""Maps each channel kind (the YAML `kind:`) to its class: one line per channel, plus plugins."""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points

from channels.base import Channel

ENTRY_POINT_GROUP = "orchestrator.channels"

BUILTIN: dict[str, str] = {
    "twilio": "channels.twilio_sms:TwilioSmsChannel",
    "sendgrid": "channels.sendgrid_email:SendgridEmailChannel",
    "mastodon": "channels.mastodon:MastodonChannel",
    "bluesky": "channels.bluesky:BlueskyChannel",
    "x": "channels.x:XChannel",
    "linkedin": "channels.linkedin:LinkedinChannel",
    "facebook": "channels.facebook:FacebookChannel",
    "instagram": "channels.instagram:InstagramChannel",
    "slack": "channels.slack:SlackChannel",
    "discord": "channels.discord:DiscordChannel",
    "teams": "channels.teams:TeamsChannel",
    "telegram": "channels.telegram:TelegramChannel",
    "webhook": "channels.webhook:WebhookChannel",
    "apprise": "channels.apprise:AppriseChannel",
    "console": "channels.console:ConsoleChannel",
}


def _load(target: str) -> type[Channel]:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


@cache
def channel_classes() -> dict[str, type[Channel]]:
    """Every channel kind known: the built-ins, then plugins from the entry-point group."""
    classes = {kind: _load(target) for kind, target in BUILTIN.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in classes:  # a plugin never shadows a built-in
            classes[ep.name] = ep.load()
    return classes


def channel_class(kind: str) -> type[Channel]:
    """The class for `kind`; KeyError when no built-in or plugin provides it."""
    return channel_classes()[kind]
