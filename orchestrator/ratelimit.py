"""Per-channel pacing: a token bucket, a gate a 429 closes for the whole channel, and backoff.

The bucket is GCRA (virtual scheduling): each acquire reserves the next free slot, so a
long run keeps the configured rate exactly instead of drifting by the event loop's
oversleep. The gate is what a provider's stated reset closes: no request on that
channel starts before the reset time. Backoff delays come from tenacity's own wait
strategies, wrapped so the provider's `retry_after` is a floor, never shortened by jitter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from tenacity import RetryCallState, wait_exponential_jitter
from tenacity.wait import wait_base

from orchestrator.errors import TransientDeliveryError


class TokenBucket:
    """`rate` acquisitions per second on average, at most `burst` at once."""

    def __init__(self, rate: float, burst: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        # How far ahead of "now" the theoretical arrival time may run: the burst allowance.
        self.tolerance = max(0.0, burst - 1.0) * self.interval
        self._clock = clock
        self._tat = 0.0  # theoretical arrival time of the next acquisition

    def reserve(self) -> float:
        """Reserve the next slot; the seconds to wait before using it (0 when free now)."""
        now = self._clock()
        start = max(now, self._tat - self.tolerance)
        self._tat = max(now, self._tat) + self.interval
        return start - now

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


class ChannelGate:
    """Everything a send on one channel waits for: the bucket, the concurrency cap, a reset."""

    def __init__(self, rate: float | None, concurrency: int, burst: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bucket = TokenBucket(rate, burst, clock) if rate else None
        self.slots = asyncio.Semaphore(max(1, concurrency))
        self._clock = clock
        self.blocked_until = 0.0  # monotonic time before which nothing may be sent

    def block(self, seconds: float) -> None:
        """Close the channel for `seconds` from now (never shortens an existing block)."""
        self.blocked_until = max(self.blocked_until, self._clock() + seconds)

    def blocked_for(self) -> float:
        return max(0.0, self.blocked_until - self._clock())

    async def wait_open(self) -> None:
        # Loop: another send may extend the block while this one sleeps.
        while (left := self.blocked_for()) > 0:
            await asyncio.sleep(left)

    async def enter(self) -> None:
        """Wait for the reset, then a token; call with a slot held (see `slot`)."""
        await self.wait_open()
        if self.bucket is not None:
            await self.bucket.acquire()
            # A 429 may have arrived while this send waited for its token.
            await self.wait_open()


class wait_at_least_provider(wait_base):  # noqa: N801 (tenacity's naming for strategies)
    """A tenacity wait that is never shorter than the failed attempt's `retry_after`."""

    def __init__(self, fallback: wait_base, margin: float = 0.05) -> None:
        self.fallback = fallback
        self.margin = margin  # clocks and rounding differ a little: arrive after the reset

    def __call__(self, retry_state: RetryCallState) -> float:
        delay = self.fallback(retry_state)
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        stated = getattr(exc, "retry_after", None)
        if stated is not None:
            delay = max(delay, float(stated) + self.margin)
        return delay


@dataclass(frozen=True)
class Backoff:
    """Jittered exponential backoff (tenacity) with the provider's wait as a floor."""

    initial: float = 1.0
    maximum: float = 300.0
    jitter: float = 1.0

    @cached_property
    def strategy(self) -> wait_base:
        return wait_at_least_provider(
            wait_exponential_jitter(multiplier=self.initial, max=self.maximum,
                                    jitter=self.jitter))

    def delay(self, attempt: int, error: BaseException | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based) ended in `error`."""
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = max(1, attempt)
        if error is not None:
            state.set_exception((type(error), error, error.__traceback__))
        return self.strategy(state)


def rate_limit_reset(error: BaseException, default: float = 1.0) -> float | None:
    """Seconds the whole channel must wait after `error`: a 429's stated reset, else None."""
    if not isinstance(error, TransientDeliveryError):
        return None
    if error.status != 429 and str(error.code) != "20429":
        return None
    return error.retry_after if error.retry_after is not None else default
