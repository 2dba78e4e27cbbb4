"""Publishes due calendar posts: claims them atomically, then hands each to the outbox.

    scheduled ──claim (publish_at <= now)──► publishing ──enqueued──► published
       │ pause_posts (same guard: state = 'scheduled')
       ▼
    paused

The claim is one guarded `UPDATE ... WHERE state = 'scheduled' AND publish_at <= now`, and a
pause is `UPDATE ... WHERE state = 'scheduled'`: the database lets exactly one of them have
a row, so a paused post is never published. A post is marked `published` once its outbox
row exists, not when the provider answers: from then on the outbox owns delivery (retries,
rate limits, exactly once) and its row, keyed `post:<id>:<publish_at>`, records the provider
id. A crash between the claim and the enqueue leaves the post `publishing`; the next run
enqueues it again under the same key, which the outbox ignores if it already has it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine, and_, select, update

from orchestrator.posts_model import Post, audit, post_from_row, write_conn
from orchestrator.store.schema import scheduled_posts as sp
from orchestrator.store.types import utcnow

log = logging.getLogger(__name__)

ACTOR = "publisher"


class OutboxLike(Protocol):
    """What the publisher needs of orchestrator.outbox.Outbox."""

    def enqueue(self, rows: Iterable[Any], *, now: datetime | None = None) -> int: ...


def post_key(post_id: int, publish_at: datetime) -> str:
    """The outbox idempotency key of one publication of a post."""
    return f"post:{post_id}:{publish_at.isoformat()}"


def build_row(post: Post) -> Any:
    """The outbox row that publishes `post` on its channel (a public post: no recipient)."""
    from orchestrator.outbox import OutboxRow

    metadata = {"post_id": post.id, "campaign": post.campaign, "tags": list(post.tags)}
    if post.media_url:
        metadata["media_url"] = post.media_url
    return OutboxRow(channel=post.channel, recipient=None, body=post.text,
                     idempotency_key=post_key(post.id, post.publish_at),
                     payload={"metadata": metadata}, step_key=f"post:{post.id}")


def publish_due(engine: Engine, config: Any, outbox: OutboxLike | None = None,
                now: datetime | None = None) -> int:
    """Publish every post due at `now`; how many were handed to the outbox."""
    now = now or utcnow()
    if outbox is None:
        from orchestrator.outbox import Outbox
        outbox = Outbox(engine)
    claimed = claim_due(engine, now)
    # Claimed now, plus any a crashed run left behind (same keys: enqueued at most once).
    with engine.connect() as conn:
        pending = [post_from_row(r) for r in conn.execute(
            select(sp).where(sp.c.state == "publishing")
            .order_by(sp.c.publish_at, sp.c.original_publish_at, sp.c.id))]
    if not pending:
        return 0
    sendable, refused = _split(config, pending)
    if sendable:
        outbox.enqueue([build_row(p) for p in sendable], now=now)
    with write_conn(engine) as conn:
        for post in sendable:
            _finish(conn, post, "published", now, None)
        for post, reason in refused:
            _finish(conn, post, "failed", now, reason)
    log.info("published %d due post(s); %d refused; %d newly claimed",
             len(sendable), len(refused), len(claimed))
    return len(sendable)


def claim_due(engine: Engine, now: datetime) -> list[int]:
    """Atomically move due, scheduled posts (held here, not elsewhere) to `publishing`."""
    with write_conn(engine) as conn:
        _settle_external(conn, now)
        return [row[0] for row in conn.execute(
            update(sp).where(and_(sp.c.state == "scheduled", sp.c.publish_at <= now,
                                  sp.c.external_kind.is_(None)))
            .values(state="publishing").returning(sp.c.id))]


def _settle_external(conn: Any, now: datetime) -> None:
    # A schedule held elsewhere (SendGrid batch, Twilio message) is sent by that provider at
    # its time; here the calendar only records that its time came while it was not paused.
    done = conn.execute(
        update(sp).where(and_(sp.c.state == "scheduled", sp.c.publish_at <= now,
                              sp.c.external_kind.is_not(None)))
        .values(state="published", published_at=sp.c.publish_at).returning(sp.c.id)).all()
    for (post_id,) in done:
        audit(conn, ACTOR, "posts.published_externally", post_id, None, now)


def _split(config: Any, posts: list[Post]) -> tuple[list[Post], list[tuple[Post, str]]]:
    sendable, refused = [], []
    for post in posts:
        channel = config.channels.get(post.channel)
        if channel is None:
            refused.append((post, f"channel {post.channel!r} is not configured"))
        elif not channel.enabled:
            refused.append((post, f"channel {post.channel!r} is disabled"))
        else:
            sendable.append(post)
    return sendable, refused


def _finish(conn: Any, post: Post, state: str, now: datetime, error: str | None) -> None:
    done = conn.execute(
        update(sp).where(and_(sp.c.id == post.id, sp.c.state == "publishing"))
        .values(state=state, published_at=now if state == "published" else None,
                last_error=error).returning(sp.c.id)).first()
    if done:
        detail = {"key": post_key(post.id, post.publish_at)}
        if error:
            detail["error"] = error
        audit(conn, ACTOR, f"posts.{state}", post.id, detail, now)

