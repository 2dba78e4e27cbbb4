"""LeaderElector: the loop that keeps a replica trying to lead and tells the daemon when it does.

    elector = LeaderElector(LeaderLease(engine, holder=replica_id, ttl=timedelta(seconds=15)))
    await elector.run(on_elected=start_timers, on_deposed=stop_timers, stop_event=stop)
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from orchestrator.lease import LeaderLease

log = logging.getLogger(__name__)


async def _call(callback: Callable[..., Any] | None, *args: Any) -> None:
    if callback is None:
        return
    try:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:  # a callback's bug must not stop the election of this replica
        log.exception("leader callback %r failed", callback)


class LeaderElector:
    """Keeps trying to lead, renews every TTL/3, and tells the daemon when leadership changes.

    `on_elected(token)` runs when this replica starts leading (a new tenure, a new token);
    `on_deposed()` runs when it stops: the lease was lost, could not be renewed before the
    local deadline (even while a renewal hangs on an unreachable database), or on stop.
    Renewals run on a thread of their own, so a busy or blocked event loop cannot delay
    them; the loop only learns the outcome (and the deadline, which it also watches).
    """

    def __init__(self, lease: LeaderLease, *, interval: float | None = None) -> None:
        self.lease = lease
        self.interval = interval if interval is not None else lease.ttl.total_seconds() / 3
        self.leading = False
        self.told_token: int | None = None

    def _round(self) -> bool:
        """One attempt: renew while leading, else try to acquire; False if the store failed."""
        try:
            if self.lease.is_leader():
                self.lease.renew()
            else:
                self.lease.try_acquire()
            return True
        except Exception as exc:  # the store is unreachable: keep the local deadline
            log.warning("lease %s: cannot reach the store: %s", self.lease.name, exc)
            return False

    def _pump(self, halt: threading.Event, notify: Callable[[], None]) -> None:
        while not halt.is_set():
            started = time.monotonic()
            ok = self._round()
            notify()
            # After a failure, try again sooner: two tries still fit before the deadline.
            period = self.interval if ok else self.interval / 2
            halt.wait(max(0.0, period - (time.monotonic() - started)))

    async def _sync(self, on_elected, on_deposed) -> None:
        token = self.lease.token
        if token is not None and token == self.told_token and self.leading:
            return
        if self.leading:
            self.leading, self.told_token = False, None
            log.warning("lease %s: %s steps down", self.lease.name, self.lease.holder)
            await _call(on_deposed)
        if token is not None:
            self.leading, self.told_token = True, token
            await _call(on_elected, token)

    async def run(self, on_elected: Callable[[int], Any] | None = None,
                  on_deposed: Callable[[], Any] | None = None,
                  stop_event: asyncio.Event | None = None) -> None:
        """Elect until `stop_event` is set; then step down and release the lease."""
        stop_event = stop_event or asyncio.Event()
        loop = asyncio.get_running_loop()
        changed, halt = asyncio.Event(), threading.Event()

        def notify() -> None:
            try:
                loop.call_soon_threadsafe(changed.set)
            except RuntimeError:  # the loop is closed: nobody to tell
                halt.set()

        pump = threading.Thread(target=self._pump, args=(halt, notify), daemon=True,
                                name=f"lease-{self.lease.name}")
        pump.start()
        stopping = asyncio.ensure_future(stop_event.wait())
        try:
            while not stop_event.is_set():
                # Wake on news from the pump, and at the local deadline in any case.
                limit = self.lease.seconds_left() if self.leading else None
                waiter = asyncio.ensure_future(changed.wait())
                await asyncio.wait({waiter, stopping}, timeout=limit,
                                   return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                changed.clear()
                await self._sync(on_elected, on_deposed)
        finally:
            stopping.cancel()
            halt.set()
            await self._stop(pump, on_deposed)

    async def _stop(self, pump: threading.Thread, on_deposed) -> None:
        if self.leading:
            self.leading, self.told_token = False, None
            await _call(on_deposed)
        await asyncio.to_thread(pump.join, self.interval)
        if pump.is_alive():  # a statement hangs on the store: let the row expire instead
            self.lease.step_down()
            return
        try:
            await asyncio.to_thread(self.lease.release)
        except Exception as exc:
            log.warning("lease %s: could not release: %s", self.lease.name, exc)
