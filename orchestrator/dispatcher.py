"""The dispatcher: claims due outbox rows per channel, sends them paced, settles them in batches.

One lane per channel claims rows under a lease, filters them (platform down → failover,
suppressed, quiet hours), reconciles rows a dead dispatcher left in flight, and sends the
rest through a ChannelGate (token bucket, concurrency cap, 429 reset). Verdicts are
buffered and written by one flusher in batches, on a worker thread, so neither the event
loop nor the database limits a fan-out. Several dispatchers (processes, replicas) can
drain one table: claims never overlap and a settlement only lands while its lease holds.
Without a `clock`, lease times are the database server's (see Outbox); `on_send` hears
every provider answer, for metrics.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from time import monotonic
from typing import Any

from sqlalchemy import Engine, select

from channels.base import Channel, Delivery
from orchestrator.audiences import SUPPRESSION_KIND, contact_details, quiet_until
from orchestrator.delivery import LanePolicy, Verdict, judge, policy_for
from orchestrator.errors import DeliveryError, PermanentDeliveryError
from orchestrator.lanes import Lane, QuietWindow, quiet_window
from orchestrator.ledger import DispatchStats, Ledger, Outcome
from orchestrator.outbox import (
    Claimed,
    Outbox,
    Settlement,
    suppressed_addresses,
)
from orchestrator.ratelimit import Backoff
from orchestrator.store.schema import platform_states
from orchestrator.store.types import utcnow

log = logging.getLogger(__name__)
__all__ = ["Dispatcher", "QuietWindow", "quiet_window", "DOWN_STATES", "SEND_OUTCOMES"]

# What `on_send` is told, by verdict state: a retry is a send that will be tried again.
SEND_OUTCOMES = {"sent": "sent", "failed": "failed", "unknown": "unknown",
                 "suppressed": "suppressed", "pending": "retry", "in_flight": "retry"}
SendHook = Callable[[str, str, float], None]

# A platform in one of these states cannot carry messages: its channels fail over.
DOWN_STATES = frozenset({"partial_outage", "major_outage"})


class Dispatcher:
    """Drains the outbox through `channels` (name → channel instance)."""

    def __init__(self, engine: Engine, channels: Mapping[str, Channel], *,
                 owner: str | None = None, policies: Mapping[str, LanePolicy] | None = None,
                 lease: float = 60.0, backoff: Backoff | None = None,
                 quiet: QuietWindow | None = None, poll_interval: float = 0.2,
                 flush_interval: float = 0.05, block_release: float = 5.0,
                 down_retry: float = 30.0, clock: Callable[[], datetime] | None = None,
                 on_send: SendHook | None = None) -> None:
        self.outbox = Outbox(engine)
        self.engine = engine
        self.channels = dict(channels)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease, self.backoff, self.quiet = lease, backoff or Backoff(), quiet
        self.clock = clock or utcnow
        # The `now` given to the outbox: None (the database server's time, which replicas
        # on skewed hosts agree on) unless a clock was given, as tests with a fake one do.
        self._store_now: Callable[[], datetime | None] = clock or (lambda: None)
        self.on_send = on_send
        self.poll_interval, self.flush_interval = poll_interval, flush_interval
        self.block_release, self.down_retry = block_release, down_retry
        self.lanes = {name: Lane(name, ch, (policies or {}).get(name) or policy_for(ch), lease)
                      for name, ch in self.channels.items()}
        self.ledger = Ledger(self.outbox, self.channels, self._store_now)
        self.stats = self.ledger.stats
        self._stopping = False
        self._wake = asyncio.Event()
        self._renewed_at = monotonic()  # when the last lease renewal started
        self._lapsed_before = 0.0  # claims older than this lost their lease in a stall
        self._platforms: dict[str, str] = {}
        self._platforms_at: datetime | None = None

    # -- running -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, drain_timeout: float = 10.0) -> DispatchStats:
        """Dispatch until `stop` is set, then stop gracefully (see `shutdown`)."""
        workers = self._start_workers()
        await stop.wait()
        return await self._shutdown(workers, drain_timeout)

    async def run_until_idle(self, horizon: float = 30.0, drain_timeout: float = 10.0
                             ) -> DispatchStats:
        """Dispatch until nothing is claimable and nothing falls due within `horizon` s."""
        workers = self._start_workers()
        try:
            while True:
                await asyncio.sleep(self.poll_interval)
                if not self._quiescent():
                    continue
                due = await asyncio.to_thread(self.outbox.next_due, list(self.lanes))
                if due is None or due > self.clock() + timedelta(seconds=horizon):
                    if self._quiescent():
                        break
        finally:
            stats = await self._shutdown(workers, drain_timeout)
        return stats

    def _quiescent(self) -> bool:
        return (self.ledger.idle()
                and all(lane.idle and not lane.tasks for lane in self.lanes.values()))

    def _start_workers(self) -> list[asyncio.Task]:
        self._stopping = False
        workers = [asyncio.create_task(self._lane_loop(lane)) for lane in self.lanes.values()]
        return [*workers,
                asyncio.create_task(self.ledger.flush_loop(lambda: self._stopping,
                                                           self.flush_interval)),
                asyncio.create_task(self._renew_loop())]

    async def _shutdown(self, workers: list[asyncio.Task], drain_timeout: float
                        ) -> DispatchStats:
        """Stop claiming, let in-flight sends finish for up to `drain_timeout` s, hand
        unstarted claims back as pending, flush every verdict, and report counts."""
        self._stopping = True
        self._wake.set()
        for lane in self.lanes.values():
            lane.room.set()
        tasks = [t for lane in self.lanes.values() for t in lane.tasks]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=drain_timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await asyncio.gather(*workers, return_exceptions=True)
        await asyncio.to_thread(self.ledger.flush_sync, self.ledger.take())
        log.info("dispatcher %s stopped: %s", self.owner, self.stats)
        return self.stats

    async def aclose(self) -> None:
        for channel in self.channels.values():
            await channel.aclose()

    # -- claiming ------------------------------------------------------------------

    async def _lane_loop(self, lane: Lane) -> None:
        while not self._stopping:
            if lane.room_left() <= 0 or lane.gate.blocked_for() > 0:
                lane.room.clear()
                await self._nap(lane.room, max(lane.gate.blocked_for(), self.poll_interval))
                continue
            claims = await asyncio.to_thread(
                self.outbox.claim, self.owner, channels=[lane.name], limit=lane.room_left(),
                lease=self.lease, now=self._store_now(), start=lane.start_on_claim)
            lane.held += len(claims)
            if self._stopping:
                self._add(lane, [self._release(c) for c in claims])
                break
            if not claims:
                lane.idle = lane.held == 0
                await self._nap(self._wake, self.poll_interval)
                continue
            lane.idle = False
            try:
                await self._start(lane, claims)
            except Exception:
                log.exception("lane %s could not start %d claims", lane.name, len(claims))
                self._add(lane, [self._release(c, delay=self.down_retry) for c in claims])

    async def _nap(self, event: asyncio.Event, seconds: float) -> None:
        try:
            await asyncio.wait_for(event.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _start(self, lane: Lane, claims: list[Claimed]) -> None:
        """Filter fresh claims, then start their sends (or reconciliations)."""
        down = await self._down_platforms(lane)
        if down:
            self._add(lane, [self._platform_down(c, down) for c in claims])
            return
        suppressed, details = await asyncio.to_thread(self._lookup, lane, claims)
        now, ready, items = self.clock(), [], []
        for claim in claims:
            item = self._screen(lane, claim, suppressed, details, now)
            (items.append(item) if item else ready.append(claim))
        self._add(lane, items)
        fresh = []
        for claim in ready:
            if claim.reclaimed and lane.reconcilable:
                self._spawn(lane, self._reconcile(lane, claim), [claim])
            elif claim.reclaimed and claim.started:
                # The dead holder may have sent it and this channel cannot ask: a person decides.
                self._add(lane, [self._item(claim, Verdict(
                    "unknown", error="dispatcher died during the send; cannot reconcile"))])
            else:
                fresh.append(claim)
        if lane.policy.max_batch > 1:
            fresh.sort(key=lambda c: (c.body, str(c.payload.get("html"))))
            for start in range(0, len(fresh), lane.policy.max_batch):
                batch = fresh[start:start + lane.policy.max_batch]
                self._spawn(lane, self._send(lane, batch), batch)
        else:
            for claim in fresh:
                self._spawn(lane, self._send(lane, [claim]), [claim])

    def _screen(self, lane: Lane, claim: Claimed, suppressed: dict[str, str],
                details: dict[int, dict[str, Any]], now: datetime) -> Outcome | None:
        """Why a claim must not be sent now (suppressed, quiet hours), or None."""
        if claim.recipient in suppressed:
            return self._item(claim, Verdict("suppressed", error=f"suppressed: "
                                             f"{suppressed[claim.recipient]}"))
        quiet = self.quiet
        if quiet and lane.name in quiet.channels and not claim.urgent:
            zone = (details.get(claim.contact_id) or {}).get("timezone") or quiet.timezone
            morning = quiet_until(now, zone, quiet.start, quiet.end)
            if morning is not None:
                return Outcome(Settlement(claim, "pending", error=f"quiet hours in {zone}",
                                        next_attempt_at=morning, count_attempt=False),
                             "deferred")
        return None

    def _lookup(self, lane: Lane, claims: list[Claimed]):
        with self.engine.connect() as conn:
            suppressed = suppressed_addresses(conn, {c.recipient for c in claims if c.recipient})
            details = {}
            if self.quiet and lane.name in self.quiet.channels:
                details = contact_details(conn, [c.contact_id for c in claims if c.contact_id])
        return suppressed, details

    async def _down_platforms(self, lane: Lane) -> list[str]:
        if not lane.policy.depends_on:
            return []
        now = self.clock()
        if self._platforms_at is None or now - self._platforms_at > timedelta(seconds=2):
            self._platforms = await asyncio.to_thread(self._read_platforms)
            self._platforms_at = now
        return [f"{p} is {self._platforms[p]}" for p in lane.policy.depends_on
                if self._platforms.get(p) in DOWN_STATES]

    def _read_platforms(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return dict(conn.execute(select(platform_states.c.platform,
                                            platform_states.c.state)).all())

    def _platform_down(self, claim: Claimed, down: list[str]) -> Outcome:
        reason = "platform " + ", ".join(down)
        if self._fallback(claim):
            return self._item(claim, Verdict("failed", error=reason, failover=True))
        item = self._release(claim, delay=self.down_retry, error=reason)
        item.stat = "deferred"
        return item

    # -- sending -------------------------------------------------------------------

    def _spawn(self, lane: Lane, coroutine, claims: list[Claimed]) -> None:
        task = asyncio.create_task(self._guarded(lane, coroutine, claims))
        lane.tasks.add(task)
        task.add_done_callback(lane.tasks.discard)

    async def _guarded(self, lane: Lane, coroutine, claims: list[Claimed]) -> None:
        try:
            await coroutine
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug, not a provider answer: the leases expire and reconciliation decides.
            log.exception("lane %s: send task failed", lane.name)
            self.stats.left_in_flight += len(claims)
            lane.release(len(claims))

    async def _admit(self, lane: Lane) -> bool:
        """Wait for the channel to open and a token; False means hand the claim back."""
        gate = lane.gate
        while True:
            left = gate.blocked_for()
            if self._stopping or left > self.block_release:
                return False
            if left > 0:
                await asyncio.sleep(left)
                continue
            if gate.bucket is not None:
                await gate.bucket.acquire()
            if gate.blocked_for() == 0:
                return True

    async def _send(self, lane: Lane, claims: list[Claimed]) -> None:
        started = False
        try:
            async with lane.gate.slots:
                # An unpaced, open channel admits at once: no coroutine to run per send.
                open_now = lane.gate.bucket is None and lane.gate.blocked_for() == 0
                if not (open_now and not self._stopping or await self._admit(lane)):
                    return self._add(lane, [self._release(c, delay=lane.gate.blocked_for())
                                            for c in claims])
                if not all(self._lease_holds(c) for c in claims):
                    return self._abandon(lane, claims)
                if not lane.reconcilable and not lane.start_on_claim:
                    await asyncio.to_thread(self.outbox.mark_started, claims,
                                            self._store_now())
                started = True
                began = monotonic()
                outcomes = await self._call(lane, claims)
                seconds = monotonic() - began
        except asyncio.CancelledError:
            if not started:
                self._add(lane, [self._release(c) for c in claims])
            else:
                self.stats.left_in_flight += len(claims)
                lane.release(len(claims))
            raise
        self._judge(lane, claims, outcomes, seconds)

    async def _call(self, lane: Lane, claims: list[Claimed]) -> list[Any]:
        channel = lane.channel
        try:
            if len(claims) == 1:
                return [await channel.send(claims[0].message())]
            return list(await channel.send_batch([c.message() for c in claims]))
        except DeliveryError as exc:
            return [exc] * len(claims)
        except Exception as exc:  # a channel bug: record it, never crash the lane
            log.exception("channel %s raised", lane.name)
            return [exc] * len(claims)

    async def _reconcile(self, lane: Lane, claim: Claimed) -> None:
        async with lane.gate.slots:
            if not await self._admit(lane):
                return self._add(lane, [self._release(claim, delay=lane.gate.blocked_for())])
            if not self._lease_holds(claim):
                return self._abandon(lane, [claim])
            try:
                found: Any = await lane.channel.reconcile(claim.message())
            except DeliveryError as exc:
                found = exc
        if found is None:  # provably never accepted: sending now is the first send
            return await self._send(lane, [claim])
        if isinstance(found, Delivery):
            self.stats.reconciled += 1
        elif not isinstance(found, PermanentDeliveryError):
            found = _Unsettled(str(found))  # the provider could not answer yet: ask later
        self._judge(lane, [claim], [found])

    def _judge(self, lane: Lane, claims: list[Claimed], outcomes: list[Any],
               seconds: float | None = None) -> None:
        """Verdicts on provider answers; `seconds` (the call's latency) only for sends."""
        items, now = [], self.clock()
        shared: dict[int, Verdict] = {}  # a batch call answers every recipient alike
        for claim, outcome in zip(claims, outcomes, strict=True):
            if isinstance(outcome, Delivery):
                verdict = shared.get(id(outcome))
                if verdict is None:
                    verdict = shared[id(outcome)] = Verdict("sent",
                                                            provider_id=outcome.provider_id)
            elif isinstance(outcome, _Unsettled):
                verdict = Verdict("in_flight", error=f"reconciliation pending: {outcome}",
                                  reconcile_in=self.backoff.delay(claim.attempts + 1))
            else:
                verdict = judge(claim, outcome, reconcilable=lane.reconcilable,
                                backoff=self.backoff)
            if verdict.block_channel_for is not None:
                lane.gate.block(verdict.block_channel_for)
            item = self._item(claim, verdict, now)
            if verdict.suppress and claim.recipient and lane.address_kind:
                item.suppress = (SUPPRESSION_KIND[lane.address_kind], claim.recipient,
                                 verdict.error or "provider refused")
            items.append(item)
            if seconds is not None:
                self._heard(lane.name, verdict.state, seconds)
        self._add(lane, items)

    def _heard(self, channel: str, state: str, seconds: float) -> None:
        if self.on_send is None:
            return
        try:
            self.on_send(channel, SEND_OUTCOMES.get(state, state), seconds)
        except Exception:  # metrics must never stop a send lane
            log.exception("on_send hook failed")

    # -- settling ------------------------------------------------------------------

    def _fallback(self, claim: Claimed) -> str | None:
        return next((name for name in claim.fallback if name in self.channels), None)

    def _item(self, claim: Claimed, verdict: Verdict, now: datetime | None = None) -> Outcome:
        now = now or self.clock()
        settlement = Settlement(
            claim, verdict.state, provider_id=verdict.provider_id, error=verdict.error,
            count_attempt=verdict.count_attempt,
            next_attempt_at=(now + timedelta(seconds=verdict.retry_in)
                             if verdict.retry_in is not None else None),
            lease_expires_at=(now + timedelta(seconds=verdict.reconcile_in)
                              if verdict.reconcile_in is not None else None),
            )
        target = self._fallback(claim) if verdict.failover else None
        stat = {"pending": "retried", "in_flight": "retried"}.get(verdict.state, verdict.state)
        return Outcome(settlement, "failed_over" if target else stat, failover_to=target)

    def _release(self, claim: Claimed, delay: float = 0.0, error: str | None = None) -> Outcome:
        when = self.clock() + timedelta(seconds=delay) if delay > 0 else None
        return Outcome(Settlement(claim, "pending", error=error, next_attempt_at=when,
                                count_attempt=False), "released")

    def _abandon(self, lane: Lane, claims: list[Claimed]) -> None:
        """Our lease may be gone (the process stalled): another dispatcher owns the row now."""
        log.warning("lane %s: %d leases lapsed before sending; left to whoever reclaims them",
                    lane.name, len(claims))
        self.stats.left_in_flight += len(claims)
        lane.release(len(claims))

    def _add(self, lane: Lane, items: list[Outcome]) -> None:
        self.ledger.add(items)
        lane.release(len(items))

    async def _renew_loop(self) -> None:
        """Extend our leases every third of a lease, so rows waiting their turn stay ours."""
        while not self._stopping:
            await self._nap(self._wake, self.lease / 3)
            started = monotonic()
            try:
                await asyncio.to_thread(self.outbox.renew, self.owner, self.lease,
                                        self._store_now())
            except Exception:
                log.exception("could not renew leases; sends stop when they expire")
                continue
            if started - self._renewed_at >= self.lease:
                # A gap longer than a lease (a stalled process): leases taken before it
                # lapsed and were not renewed, so those claims must never be sent.
                self._lapsed_before = started
            self._renewed_at = started

    def _lease_holds(self, claim: Claimed) -> bool:
        # Keep a margin: a send that starts just before expiry must finish before another
        # dispatcher may reclaim the row.
        margin = min(self.lease / 4, 5.0)
        if claim.claimed_at < self._lapsed_before:
            return False
        return monotonic() < max(claim.claimed_at, self._renewed_at) + self.lease - margin

class _Unsettled(Exception):
    """Reconciliation could not tell yet (the provider did not answer the question)."""
