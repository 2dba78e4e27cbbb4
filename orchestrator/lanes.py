"""A dispatcher lane (one per channel: gate, claim window, send tasks) and quiet hours."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import time
from typing import Any

from channels.base import Channel
from orchestrator.delivery import LanePolicy, can_reconcile
from orchestrator.ratelimit import ChannelGate


@dataclass(frozen=True)
class QuietWindow:
    start: time
    end: time
    channels: frozenset[str]
    timezone: str = "UTC"   # for contacts without a time zone of their own


def quiet_window(config: Any) -> QuietWindow | None:
    """The Config's quiet hours as the dispatcher applies them (None when not configured)."""
    quiet = getattr(config, "quiet_hours", None)
    if quiet is None:
        return None
    return QuietWindow(quiet.start, quiet.end, frozenset(quiet.channels),
                       getattr(config, "timezone", "UTC"))


class Lane:
    """One channel's share of a dispatcher: its gate, its claim window, its send tasks."""

    def __init__(self, name: str, channel: Channel, policy: LanePolicy, lease: float) -> None:
        self.name, self.channel, self.policy = name, channel, policy
        self.gate = ChannelGate(policy.rate, policy.concurrency, policy.burst)
        self.reconcilable = can_reconcile(channel)
        # A batch channel that cannot reconcile marks its rows as begun in the claim itself
        # and claims no further ahead than it sends at once: one write per row saved, the
        # same crash semantics (a row marked begun but never sent reads as unknown).
        self.start_on_claim = policy.max_batch > 1 and not self.reconcilable
        self.address_kind = getattr(channel.capabilities, "address", None)
        # Claim a few rounds ahead of the senders, no more: every held row is a message a
        # crash leaves to reconcile. 32 rounds of single sends: a claim's fixed cost (a
        # write transaction, a lookup, two thread hops) was a sixth of an unthrottled SMS.
        wide = max(policy.max_batch * min(policy.concurrency, 4), policy.concurrency * 32, 32)
        if self.start_on_claim:
            wide = policy.max_batch * min(policy.concurrency, 4)
        # Never hold more than a quarter lease's worth of sends: a lease must not expire
        # while its row waits for a token.
        if policy.rate:
            wide = min(wide, max(1, int(policy.rate * lease / 4)) * policy.max_batch)
        self.high_water = wide
        # Refill in chunks of half the window: every claim is a write transaction and a
        # suppression lookup, too dear to pay per row, and half a window still queued
        # keeps the senders busy while the next chunk is claimed.
        self.refill = max(1, wide // 2)
        self.held = 0
        self.tasks: set[asyncio.Task] = set()
        self.room = asyncio.Event()
        self.idle = False

    def release(self, count: int) -> None:
        """`count` held rows are done with; wake the claimer only when it has work: a
        wake-up per settled row would cost more than the row's own bookkeeping."""
        self.held -= count
        if self.room_left() > 0:
            self.room.set()

    def room_left(self) -> int:
        """Rows to claim now: whole provider batches, so a fan-out makes the fewest calls."""
        free = self.high_water - self.held
        batch = self.policy.max_batch
        if batch == 1:
            return free if free >= self.refill or self.held == 0 else 0
        return (free // batch) * batch
