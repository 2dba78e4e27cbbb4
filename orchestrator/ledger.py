"""The dispatcher's write side: outcomes buffered, then written in batches with their failovers.

Verdicts arrive from many send tasks; one flusher writes them every few milliseconds on a
worker thread, each batch in one transaction together with the failover rows it creates
(the recipient re-enqueued on the next channel, addressed from `contacts`) and the
suppressions it adds. Counts per kind of outcome are kept for progress bars and reports.
A batch the database could not take for a passing reason (a lost connection, a deadlock
that outlasted the outbox's own retries) goes back to the buffer for the next flush.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import OperationalError

from orchestrator.audiences import contact_details
from orchestrator.outbox import Outbox, OutboxRow, SettleExtras, Settlement

log = logging.getLogger(__name__)


@dataclass
class DispatchStats:
    """Counts since the dispatcher started, by what happened to each row."""

    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    unknown: int = 0
    retried: int = 0
    deferred: int = 0
    failed_over: int = 0
    reconciled: int = 0
    released: int = 0
    left_in_flight: int = 0


@dataclass
class Outcome:
    """One row's settlement, and what else it entails."""

    settlement: Settlement
    stat: str                        # the DispatchStats counter this outcome adds to
    failover_to: str | None = None   # re-enqueue the recipient on this channel
    suppress: tuple[str, str, str] | None = None  # (address kind, address, reason)


class Ledger:
    """Buffers outcomes and writes them to the outbox in batches."""

    def __init__(self, outbox: Outbox, channels: Mapping[str, Any],
                 clock: Callable[[], datetime | None]) -> None:
        # `clock` gives settle's `now`; None lets the outbox use the database's time.
        self.outbox, self.channels, self.clock = outbox, channels, clock
        self.stats = DispatchStats()
        self._buffer: list[Outcome] = []
        self._flushing = False

    def add(self, items: list[Outcome]) -> None:
        for item in items:
            setattr(self.stats, item.stat, getattr(self.stats, item.stat) + 1)
        self._buffer.extend(items)

    def take(self) -> list[Outcome]:
        items, self._buffer = self._buffer, []
        return items

    def idle(self) -> bool:
        return not self._buffer and not self._flushing

    async def flush_loop(self, stopping: Callable[[], bool], interval: float) -> None:
        while not stopping():
            await asyncio.sleep(interval)
            items = self.take()
            if not items:
                continue
            self._flushing = True
            try:
                await asyncio.to_thread(self.flush_sync, items)
            except Exception as exc:
                if _passing(exc):
                    # Nothing of the batch was written: keep it for the next flush. Each
                    # settlement still lands only while its lease token holds.
                    log.warning("could not record %d outcomes yet: %s", len(items), exc)
                    self._buffer[:0] = items
                    continue
                # The leases still hold these rows: they will be reclaimed and reconciled.
                log.exception("could not record %d outcomes", len(items))
            finally:
                self._flushing = False

    def flush_sync(self, items: list[Outcome]) -> None:
        if not items:
            return
        extras = SettleExtras(suppress=[i.suppress for i in items if i.suppress])
        settlements = [i.settlement for i in items if not i.failover_to]
        failovers = [i for i in items if i.failover_to]
        if failovers:
            settlements += self.failover_rows(failovers, extras)
        self.outbox.settle(settlements, extras, now=self.clock())

    def failover_rows(self, items: list[Outcome], extras: SettleExtras) -> list[Settlement]:
        with self.outbox.engine.connect() as conn:
            details = contact_details(conn, [i.settlement.claim.contact_id for i in items
                                             if i.settlement.claim.contact_id])
        out = []
        for item in items:
            claim, target = item.settlement.claim, item.failover_to
            kind = getattr(self.channels[target].capabilities, "address", None)
            address = (details.get(claim.contact_id) or {}).get(kind or "")
            cause = item.settlement.error
            if not address:
                out.append(dataclasses.replace(item.settlement, error=(
                    f"{cause}; cannot fail over to {target}: contact has no {kind} address")))
                continue
            rest = claim.fallback[claim.fallback.index(target) + 1:]
            extras.enqueue.append(OutboxRow(
                channel=target, recipient=address, body=claim.body, subject=claim.subject,
                payload=claim.payload or None, urgent=claim.urgent, fallback=rest,
                run_id=claim.run_id, step_key=claim.step_key, contact_id=claim.contact_id,
                audience=claim.audience, max_attempts=claim.max_attempts,
                idempotency_key=f"{claim.key}>{target}"))
            out.append(dataclasses.replace(item.settlement, state="failed",
                                           error=f"failed over to {target}: {cause}"))
        return out


# SQLSTATE classes of errors that pass: connection lost, transaction rolled back (deadlock,
# serialization), resources, operator intervention (a server restart).
_PASSING_CLASSES = ("08", "40", "53", "57")


def _passing(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError):
        return True
    state = getattr(exc, "sqlstate", None)
    return bool(state) and state[:2] in _PASSING_CLASSES
