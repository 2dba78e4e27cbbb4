"""Values and checks the calendar shares: Selector, Post, post validation, audit rows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from orchestrator.store.engine import SQLITE_IMMEDIATE
from orchestrator.store.schema import audit_log
from orchestrator.store.types import utcnow


class PostError(ValueError):
    """A post that cannot be scheduled as given (unknown channel, text too long...)."""


@dataclass(frozen=True)
class Selector:
    """Which posts a pause or resume takes: any post matching any one criterion (a union).

    `platforms` picks posts on channels that depend on those platforms (a family name, such
    as `meta`, stands for its platforms). An empty selector picks nothing unless `all`.
    """

    channels: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    all: bool = False

    def is_empty(self) -> bool:
        return not (self.all or self.channels or self.platforms or self.campaigns or self.tags)

    def channel_names(self, config: Any) -> frozenset[str]:
        """The channels named, plus every configured channel depending on a named platform."""
        platforms = set(self.platforms)
        for name, platform in getattr(config, "platforms", {}).items():
            if platform.family and platform.family in self.platforms:
                platforms.add(name)
        dependent = {name for name, channel in config.channels.items()
                     if platforms & set(channel.depends_on)}
        return frozenset(self.channels) | dependent

    def matches(self, post: Post, channels: frozenset[str]) -> bool:
        if self.all or post.channel in channels:
            return True
        if post.campaign is not None and post.campaign in self.campaigns:
            return True
        return bool(set(post.tags) & set(self.tags))


@dataclass(frozen=True)
class Post:
    """One row of the calendar."""

    id: int
    channel: str
    text: str
    publish_at: datetime
    state: str
    media_url: str | None = None
    campaign: str | None = None
    tags: tuple[str, ...] = ()
    original_publish_at: datetime | None = None
    paused_at: datetime | None = None
    paused_by: str | None = None
    pause_reason: str | None = None
    pause_run_id: int | None = None
    external_kind: str | None = None
    external_ref: str | None = None
    external_detail: Mapping[str, Any] | None = None
    provider_id: str | None = None
    published_at: datetime | None = None
    last_error: str | None = None

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["tags"] = list(self.tags)
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in out.items()}


def post_from_row(row: Any) -> Post:
    data = row._mapping
    return Post(**{name: data[name] for name in Post.__dataclass_fields__ if name != "tags"},
                tags=tuple(data["tags"] or ()))


def check_post(config: Any, channel: str, text: str, *, external: bool = False) -> list[str]:
    """Why `text` cannot be scheduled on `channel` (unknown, not public, too long); [] if it can.

    `external` posts are messages a provider schedules (an SMS, an email) rather than public
    posts, so the channel need not broadcast.
    """
    channels = config.channels
    if channel not in channels:
        known = ", ".join(sorted(channels)) or "none configured"
        return [f"unknown channel {channel!r} (known: {known})"]
    if not text.strip():
        return ["text is empty"]
    from channels.registry import channel_class

    cls = channel_class(channels[channel].kind)
    if not external and not cls.capabilities.broadcast:
        return [f"channel {channel!r} ({channels[channel].kind}) cannot publish a post; "
                "it messages individual recipients"]
    limit = getattr(channels[channel], "max_length", None) or cls.capabilities.max_length
    length = text_length(channels[channel].kind, text)
    if limit is not None and length > limit:
        return [f"text is {length} {cls.capabilities.length_unit}; channel {channel!r} "
                f"allows {limit}"]
    return []


def text_length(kind: str, text: str) -> int:
    """The length the provider counts: graphemes on Bluesky, weighted characters on X."""
    if kind == "bluesky":
        from channels.graphemes import count_graphemes
        return count_graphemes(text)
    if kind == "x":
        from channels.x import weighted_length
        return weighted_length(text)
    return len(text)


def audit(conn: Connection, actor: str, action: str, post_id: int,
          detail: Mapping[str, Any] | None = None, at: datetime | None = None) -> None:
    conn.execute(audit_log.insert().values(
        at=at or utcnow(), actor=actor, action=action, subject_type="scheduled_post",
        subject_id=str(post_id), detail=dict(detail) if detail else None))


def audit_many(conn: Connection, actor: str, action: str, post_ids: list[int],
               detail: Mapping[str, Any] | None, at: datetime) -> None:
    """One audit row per post, in one executemany (a pause may take thousands of posts)."""
    if post_ids:
        conn.execute(audit_log.insert(), [
            {"at": at, "actor": actor, "action": action, "subject_type": "scheduled_post",
             "subject_id": str(i), "detail": dict(detail) if detail else None}
            for i in post_ids])


@contextmanager
def write_conn(engine: Engine) -> Iterator[Connection]:
    """A transaction that reads then writes: on SQLite it takes the write lock up front, so a
    concurrent writer makes it wait rather than fail with "database is locked"."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{SQLITE_IMMEDIATE: True})
        with conn.begin():
            yield conn
