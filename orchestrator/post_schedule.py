"""The missed-post rules as pure functions: where each post goes when a pause ends."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

MissedRule = Literal["publish_now", "next_slot", "skip", "hold"]
MISSED_RULES: tuple[str, ...] = ("publish_now", "next_slot", "skip", "hold")

# Two posts on one channel closer than this collide: `next_slot` pushes the later one.
DEFAULT_GAP = timedelta(minutes=5)

Action = Literal["schedule", "skip", "hold"]


@dataclass(frozen=True)
class Slot:
    """A post as the planner sees it: its id, channel and the time it is set for."""

    id: int
    channel: str
    at: datetime


@dataclass(frozen=True)
class Decision:
    """What resuming does to one paused post: schedule it at `at`, skip it, or hold it."""

    id: int
    action: Action
    at: datetime | None = None
    missed: bool = False


def plan_resume(paused: Sequence[Slot], others: Iterable[Slot], rule: str, now: datetime,
                gap: timedelta = DEFAULT_GAP) -> tuple[list[Decision], list[Decision]]:
    """Decisions for the `paused` posts, and moves of `others` (still scheduled) they push.

    A paused post is missed when its time is not after `now`; the rest go back to their own
    time. Missed posts follow `rule`. Only `next_slot` ever moves one of `others`.
    """
    if rule not in MISSED_RULES:
        raise ValueError(f"unknown missed-post rule {rule!r} (use {', '.join(MISSED_RULES)})")
    missed = sorted((p for p in paused if p.at <= now), key=lambda p: (p.at, p.id))
    on_time = [Decision(p.id, "schedule", p.at) for p in paused if p.at > now]
    if rule == "skip":
        return [Decision(p.id, "skip", missed=True) for p in missed] + on_time, []
    if rule == "hold":
        return [Decision(p.id, "hold", missed=True) for p in missed] + on_time, []
    if rule == "publish_now":
        # All due at once; the publisher keeps their original order (original_publish_at).
        return [Decision(p.id, "schedule", now, missed=True) for p in missed] + on_time, []
    return _next_slot(missed, paused, list(others), now, gap)


def _next_slot(missed: list[Slot], paused: Sequence[Slot], others: list[Slot], now: datetime,
               gap: timedelta) -> tuple[list[Decision], list[Decision]]:
    missed_ids = {p.id for p in missed}
    # Posts that keep their time but may be pushed: paused ones not yet due, and the rest.
    fixed = [p for p in paused if p.id not in missed_ids] + others
    moved: dict[int, datetime] = {}
    for channel in sorted({p.channel for p in missed}):
        mine = [p for p in missed if p.channel == channel]
        theirs = sorted((p for p in fixed if p.channel == channel and p.at > now),
                        key=lambda p: (p.at, p.id))
        moved.update(shift_channel(mine, theirs, now, gap))
    paused_ids = {p.id for p in paused}
    decisions = [Decision(p.id, "schedule", moved.get(p.id, p.at), missed=p.id in missed_ids)
                 for p in paused]
    pushed = [Decision(p.id, "schedule", moved[p.id]) for p in others
              if p.id not in paused_ids and moved.get(p.id, p.at) != p.at]
    return decisions, pushed


def shift_channel(missed: list[Slot], later: list[Slot], now: datetime,
                  gap: timedelta) -> dict[int, datetime]:
    """New times on one channel: the missed block moves past the outage, keeping its spacing.

    The first missed post goes to the first free slot at or after `now` (free: no later post
    within `gap`); the others keep their gaps to it. Then one sweep in time order pushes any
    post that ends up within `gap` of a post of the other group; posts of one group keep the
    spacing they already had (a scheduler's own 2-minute pair is not spread out).
    """
    if not missed:
        return {p.id: p.at for p in later}
    start = first_free(now, [p.at for p in later], gap)
    shift = start - missed[0].at
    items = [(p.at + shift, 0, p) for p in missed] + [(p.at, 1, p) for p in later]
    items.sort(key=lambda item: (item[0], item[1], item[2].id))
    result: dict[int, datetime] = {}
    prev: tuple[datetime, datetime, int] | None = None  # (new time, base time, group)
    for base, group, post in items:
        at = base
        if prev is not None:
            prev_at, prev_base, prev_group = prev
            need = gap if group != prev_group else min(gap, base - prev_base)
            at = max(at, prev_at + need)
        result[post.id] = at
        prev = (at, base, group)
    return result


def first_free(start: datetime, taken: Sequence[datetime], gap: timedelta) -> datetime:
    """The earliest time at or after `start` that is at least `gap` from every taken time."""
    at = start
    for other in sorted(taken):
        if abs(other - at) < gap:
            at = other + gap
    return at
