"""Calendar posts whose schedule a provider holds (SendGrid batches, Twilio scheduled messages).

The row in `scheduled_posts` stays the ledger: pause and resume change the row first (so the
decision survives a crash), then make the provider agree. A provider that refuses leaves the
post `held` with the error in `last_error`, for a person to retry with
`orchestrator posts resume --id`; one that already sent the message makes it `published`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, update

from orchestrator.adapters.base import AlreadySent, ExternalError, ExternalSchedule
from orchestrator.posts_model import Post, audit, write_conn
from orchestrator.store.schema import scheduled_posts as sp

__all__ = ["AlreadySent", "ExternalError", "ExternalSchedule", "KINDS", "open_schedule",
           "pause_external", "resume_external", "schedule_post"]

log = logging.getLogger(__name__)

# external_kind -> (channel kind it needs, class path).
KINDS: dict[str, tuple[str, str]] = {
    "sendgrid_batch": ("sendgrid",
                       "orchestrator.adapters.sendgrid_scheduled:SendgridScheduledSends"),
    "twilio_message": ("twilio",
                       "orchestrator.adapters.twilio_scheduled:TwilioScheduledMessages"),
}


def open_schedule(config: Any, external_kind: str, channel: str) -> ExternalSchedule:
    """The adapter for `external_kind` on the configured `channel` (its credentials, base URL)."""
    import importlib

    if external_kind not in KINDS:
        raise ExternalError(f"unknown external schedule kind {external_kind!r} "
                            f"(known: {', '.join(sorted(KINDS))})")
    channel_kind, target = KINDS[external_kind]
    channel_config = config.channels.get(channel)
    if channel_config is None or channel_config.kind != channel_kind:
        raise ExternalError(f"{external_kind} needs a {channel_kind} channel; {channel!r} is not")
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)(channel_config)


class _Schedules:
    """One adapter per (kind, channel), opened on first use."""

    def __init__(self, config: Any):
        self.config, self.open = config, {}

    def __call__(self, post: Post) -> ExternalSchedule:
        key = (post.external_kind, post.channel)
        if key not in self.open:
            self.open[key] = open_schedule(self.config, *key)
        return self.open[key]


def schedule_post(engine: Engine, config: Any, *, channel: str, text: str, publish_at: datetime,
                  external_kind: str, detail: Mapping[str, Any], by: str,
                  campaign: str | None = None, tags: Iterable[str] = ()) -> int:
    """Schedule a message at the provider and record it in the calendar; the post id."""
    from orchestrator.posts import add_post

    ref = open_schedule(config, external_kind, channel).create(text, detail, publish_at)
    return add_post(engine, config, channel=channel, text=text, publish_at=publish_at,
                    campaign=campaign, tags=tags, by=by, external_kind=external_kind,
                    external_ref=ref, external_detail=detail)


def pause_external(engine: Engine, config: Any, posts: Sequence[Post], *, by: str,
                   now: datetime) -> dict[int, str]:
    """Pause paused posts' schedules at their providers; errors by post id."""
    schedules, errors = _Schedules(config), {}
    for post in posts:
        try:
            schedules(post).pause(post.external_ref or "", post.external_detail or {})
        except AlreadySent as exc:
            _record(engine, post.id, ("paused",), {"state": "published", "published_at": now,
                                                   "last_error": str(exc)}, by, now)
            errors[post.id] = str(exc)
        except ExternalError as exc:
            _record(engine, post.id, ("paused",), {"last_error": f"pause: {exc}"}, by, now)
            errors[post.id] = str(exc)
            log.warning("post %s: the provider's schedule was not paused: %s", post.id, exc)
    return errors


def resume_external(engine: Engine, config: Any, decided: Sequence[tuple[Post, Any]], *,
                    by: str, now: datetime) -> dict[int, str]:
    """Make providers follow resume decisions (schedule, skip; hold keeps the pause there)."""
    schedules, errors = _Schedules(config), {}
    for post, decision in decided:
        if decision.action == "hold":
            continue
        try:
            schedule = schedules(post)
            if decision.action == "skip":
                schedule.cancel(post.external_ref or "", post.external_detail or {})
                continue
            ref, at = schedule.resume(
                post.external_ref or "", post.external_detail or {}, text=post.text,
                original_at=post.publish_at, send_at=decision.at, now=now)
            # `published` too: the publisher may have settled a due row meanwhile.
            _record(engine, post.id, ("scheduled", "published"),
                    {"external_ref": ref, "publish_at": at, "last_error": None}, by, now)
        except AlreadySent:
            continue  # a cancel that came too late: it went out before the pause
        except ExternalError as exc:
            # Not resumed at the provider: hold it, so nothing claims it was published.
            _record(engine, post.id, ("scheduled", "skipped", "published"),
                    {"state": "held", "last_error": f"resume: {exc}"}, by, now)
            errors[post.id] = str(exc)
            log.warning("post %s: the provider did not resume it: %s", post.id, exc)
    return errors


def _record(engine: Engine, post_id: int, states: tuple[str, ...], values: dict[str, Any],
            by: str, now: datetime) -> None:
    with write_conn(engine) as conn:
        done = conn.execute(update(sp).where(and_(sp.c.id == post_id, sp.c.state.in_(states)))
                            .values(**values).returning(sp.c.id)).first()
        if done:
            detail = {k: v.isoformat() if isinstance(v, datetime) else v
                      for k, v in values.items()}
            audit(conn, by, "posts.external", post_id, detail, now)
