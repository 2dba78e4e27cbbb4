"""The content calendar: add, list, pause and resume scheduled posts, every change in the store.

Everything a pause decides lives in the `scheduled_posts` row (state, who, why, which run)
and in `audit_log`, so a process that dies between pause and resume loses nothing: a fresh
engine on the same database resumes from the rows. Pause and publish race through the
database: both are guarded `UPDATE ... WHERE state = 'scheduled'`, so a post is either
claimed by the publisher or paused, never both.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, or_, select, update

from orchestrator.post_schedule import DEFAULT_GAP, MISSED_RULES, Decision, Slot, plan_resume
from orchestrator.posts_model import (
    Post,
    PostError,
    Selector,
    audit,
    audit_many,
    check_post,
    post_from_row,
    write_conn,
)
from orchestrator.store.schema import audit_log
from orchestrator.store.schema import scheduled_posts as sp

__all__ = [
    "Post", "PostError", "ResumeReport", "Selector", "add_post", "list_posts", "pause_posts",
    "resume_posts", "select_posts",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResumeReport:
    """What a resume did: ids back at their own time, new times, skips, holds and failures."""

    resumed: tuple[int, ...] = ()                          # not missed: back at their own time
    rescheduled: tuple[tuple[int, datetime], ...] = ()     # missed: published at this new time
    pushed: tuple[tuple[int, datetime], ...] = ()          # other posts moved to make room
    skipped: tuple[int, ...] = ()
    held: tuple[int, ...] = ()
    errors: tuple[tuple[int, str], ...] = field(default=())  # external schedules that failed

    def as_json(self) -> dict[str, Any]:
        return {
            "resumed": list(self.resumed),
            "rescheduled": {str(i): at.isoformat() for i, at in self.rescheduled},
            "pushed": {str(i): at.isoformat() for i, at in self.pushed},
            "skipped": list(self.skipped), "held": list(self.held),
            "errors": {str(i): e for i, e in self.errors},
        }


def add_post(engine: Engine, config: Any, *, channel: str, text: str, publish_at: datetime,
             media_url: str | None = None, campaign: str | None = None,
             tags: Iterable[str] = (), by: str = "cli", external_kind: str | None = None,
             external_ref: str | None = None,
             external_detail: Mapping[str, Any] | None = None) -> int:
    """Schedule one post; PostError when the channel is unknown or the text too long."""
    problems = check_post(config, channel, text, external=external_kind is not None)
    if problems:
        raise PostError("; ".join(problems))
    if publish_at.tzinfo is None:
        raise PostError("publish_at needs a time zone (an aware datetime)")
    with write_conn(engine) as conn:
        post_id = conn.execute(sp.insert().values(
            channel=channel, text=text, media_url=media_url, campaign=campaign,
            tags=list(tags), publish_at=publish_at, original_publish_at=publish_at,
            state="scheduled", external_kind=external_kind, external_ref=external_ref,
            external_detail=dict(external_detail) if external_detail else None,
        )).inserted_primary_key[0]
        audit(conn, by, "posts.add", post_id, {"channel": channel, "at": publish_at.isoformat()})
    return post_id


def list_posts(engine: Engine, state: str | None = None, channel: str | None = None,
               campaign: str | None = None, run_id: int | None = None,
               limit: int | None = None) -> list[Post]:
    """Posts in calendar order, optionally filtered by state, channel, campaign or pausing run."""
    query = select(sp)
    for column, value in ((sp.c.state, state), (sp.c.channel, channel),
                          (sp.c.campaign, campaign), (sp.c.pause_run_id, run_id)):
        if value is not None:
            query = query.where(column == value)
    query = query.order_by(sp.c.publish_at, sp.c.original_publish_at, sp.c.id).limit(limit)
    with engine.connect() as conn:
        return [post_from_row(row) for row in conn.execute(query)]


def select_posts(engine: Engine, config: Any, selector: Selector,
                 states: Iterable[str] = ("scheduled",)) -> list[Post]:
    """The posts `selector` picks among those in `states` (what a pause would take; no change)."""
    with engine.connect() as conn:
        return _selected(conn, config, selector, tuple(states))


def _selected(conn: Connection, config: Any, selector: Selector,
              states: tuple[str, ...], lock: bool = False) -> list[Post]:
    rows = conn.execute(_locked(conn, select(sp).where(sp.c.state.in_(states))
                                .order_by(sp.c.publish_at, sp.c.id), lock))
    channels = selector.channel_names(config)
    return [post for post in map(post_from_row, rows) if selector.matches(post, channels)]


def pause_posts(engine: Engine, config: Any, selector: Selector, *, reason: str, by: str,
                run_id: int | None = None, now: datetime) -> list[int]:
    """Pause every matching post still scheduled, due ones included; the ids paused.

    A post the publisher already claimed (`publishing`) is on its way and is not counted.
    Schedules held elsewhere (SendGrid batches, Twilio messages) are paused there too, after
    the rows are committed; a failure there is recorded on the row and logged.
    """
    if selector.is_empty():
        raise ValueError("an empty selector pauses nothing: name channels, platforms, "
                         "campaigns or tags, or pass all=True")
    with write_conn(engine) as conn:
        candidates = _selected(conn, config, selector, ("scheduled",))
        paused = _guarded_update(conn, [p.id for p in candidates], ("scheduled",), {
            "state": "paused", "paused_at": now, "paused_by": by, "pause_reason": reason,
            "pause_run_id": run_id})
        audit_many(conn, by, "posts.pause", paused, {"reason": reason, "run_id": run_id}, now)
    external = [p for p in candidates if p.id in set(paused) and p.external_kind]
    if external:
        from orchestrator.adapters import pause_external
        pause_external(engine, config, external, by=by, now=now)
    log.info("paused %d post(s) (%s) by %s", len(paused), reason, by)
    return sorted(paused)


def resume_posts(engine: Engine, config: Any, *, run_id: int | None = None,
                 selector: Selector | None = None, ids: Iterable[int] = (), missed: str,
                 by: str, now: datetime, gap: timedelta = DEFAULT_GAP) -> ResumeReport:
    """Resume what run `run_id` paused (or what `selector` or `ids` pick) under rule `missed`.

    Posts whose time has not come go back to it; missed ones (time <= now) are published now,
    moved to the next slot, skipped or held for a person. `ids` may also name held posts:
    that is how a person decides about them.
    """
    if missed not in MISSED_RULES:
        raise ValueError(f"unknown missed-post rule {missed!r} (use {', '.join(MISSED_RULES)})")
    ids = tuple(ids)
    if selector is not None and selector.is_empty():
        selector = None  # a step's empty selector means "what this run paused"
    if run_id is None and selector is None and not ids:
        raise ValueError("say what to resume: run_id, selector or ids")
    with write_conn(engine) as conn:
        targets = _targets(conn, config, run_id, selector, ids)
        channels = {p.channel for p in targets}
        others = [Slot(p.id, p.channel, p.publish_at) for p in _scheduled_on(conn, channels)]
        decisions, pushed = plan_resume(
            [Slot(p.id, p.channel, p.publish_at) for p in targets], others, missed, now, gap)
        by_id = {p.id: p for p in targets}
        applied = _apply_all(conn, [(by_id[d.id], d) for d in decisions], by, missed, now)
        moved = [d for d in pushed if _push(conn, d, by, now)]
    errors: dict[int, str] = {}
    external = [(by_id[d.id], d) for d in applied if by_id[d.id].external_kind]
    if external:
        from orchestrator.adapters import resume_external
        errors = resume_external(engine, config, external, by=by, now=now)
    report = _report(applied, moved, errors)
    log.info("resumed posts (%s, by %s): %s", missed, by, report.as_json())
    return report


def _targets(conn: Connection, config: Any, run_id: int | None, selector: Selector | None,
             ids: tuple[int, ...]) -> list[Post]:
    if ids:
        query = select(sp).where(sp.c.id.in_(ids), sp.c.state.in_(("paused", "held")))
        return [post_from_row(r) for r in conn.execute(_locked(conn, query))]
    if selector is not None:
        picked = _selected(conn, config, selector, ("paused",), lock=True)
        return [p for p in picked if run_id is None or p.pause_run_id == run_id]
    query = select(sp).where(sp.c.state == "paused", sp.c.pause_run_id == run_id)
    return [post_from_row(r) for r in conn.execute(_locked(conn, query))]


def _locked(conn: Connection, query: Any, lock: bool = True) -> Any:
    # The rows a resume decides about stay ours until it commits: a second resume racing
    # for them waits, then finds them no longer paused. (SQLite: BEGIN IMMEDIATE already.)
    if lock and conn.dialect.name == "postgresql":
        return query.with_for_update()
    return query


def _scheduled_on(conn: Connection, channels: set[str]) -> list[Post]:
    if not channels:
        return []
    rows = conn.execute(select(sp).where(sp.c.state == "scheduled", sp.c.channel.in_(channels)))
    return [post_from_row(r) for r in rows]


def _apply_all(conn: Connection, decided: list[tuple[Post, Decision]], by: str, rule: str,
               now: datetime) -> list[Decision]:
    """Write every decision in one executemany per kind; the targets are locked (above)."""
    state = {"schedule": "scheduled", "skip": "skipped", "hold": "held"}
    rows = [{"b_id": p.id, "b_state": state[d.action],
             "b_at": d.at if d.action == "schedule" else p.publish_at,
             "b_original": p.original_publish_at or p.publish_at} for p, d in decided]
    if rows:
        # No IN (...) here: an expanding parameter cannot be part of an executemany.
        conn.execute(update(sp).where(and_(sp.c.id == bindparam("b_id"),
                                           or_(sp.c.state == "paused", sp.c.state == "held")))
                     .values(state=bindparam("b_state"), publish_at=bindparam("b_at"),
                             original_publish_at=bindparam("b_original")), rows)
        conn.execute(audit_log.insert(), [
            {"at": now, "actor": by, "action": f"posts.resume.{d.action}",
             "subject_type": "scheduled_post", "subject_id": str(p.id),
             "detail": {"rule": rule, "missed": d.missed, "from": p.publish_at.isoformat(),
                        "to": d.at.isoformat() if d.at else None}} for p, d in decided])
    return [d for _, d in decided]


def _push(conn: Connection, decision: Decision, by: str, now: datetime) -> bool:
    done = conn.execute(update(sp).where(and_(sp.c.id == decision.id, sp.c.state == "scheduled"))
                        .values(publish_at=decision.at).returning(sp.c.id)).first()
    if done:
        audit(conn, by, "posts.push", decision.id, {"to": decision.at.isoformat()}, now)
    return done is not None


def _guarded_update(conn: Connection, ids: list[int], states: tuple[str, ...],
                    values: Mapping[str, Any]) -> list[int]:
    """Update the rows among `ids` still in `states`; the ids actually changed."""
    changed: list[int] = []
    for start in range(0, len(ids), 500):  # stay under any driver's bound-parameter limit
        chunk = ids[start:start + 500]
        statement = (update(sp).where(sp.c.id.in_(chunk), sp.c.state.in_(states))
                     .values(**values).returning(sp.c.id))
        changed.extend(row[0] for row in conn.execute(statement))
    return changed


def _report(applied: list[Decision], moved: list[Decision],
            errors: Mapping[int, str]) -> ResumeReport:
    # A post its provider would not resume is held (see orchestrator.adapters).
    ok = [d for d in applied if d.id not in errors]
    return ResumeReport(
        resumed=tuple(d.id for d in ok if d.action == "schedule" and not d.missed),
        rescheduled=tuple((d.id, d.at) for d in ok if d.action == "schedule" and d.missed),
        pushed=tuple((d.id, d.at) for d in moved),
        skipped=tuple(d.id for d in ok if d.action == "skip"),
        held=tuple(d.id for d in applied if d.action == "hold" or d.id in errors),
        errors=tuple(sorted(errors.items())),
    )
