"""Demo time: a clock that, once accelerated, runs `speed` times faster than the wall clock.

The daemon takes its clock as a parameter, so the demo can tell a story with a 1-minute
update cadence (the playbook language's minimum) in 10 seconds without any special case in
the daemon: every part reads the same demo time, so durations, holds and cadences agree.
It runs at real speed until `accelerate()`, because the poller computes its APScheduler
start dates (which are wall-clock times) from this clock when it starts.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class ScaledClock:
    """Wall time that advances at real speed, then `speed` times as fast after `accelerate`."""

    def __init__(self, speed: float, start: datetime | None = None):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        # One tuple, replaced whole, so threads reading it never see half an update.
        self._anchor = ((start or datetime.now(UTC)).astimezone(UTC), time.monotonic(), 1.0)

    def accelerate(self) -> None:
        """From now on, run `speed` times as fast as the wall clock."""
        self._anchor = (self.now(), time.monotonic(), self.speed)

    def now(self) -> datetime:
        base, mono, rate = self._anchor
        return base + timedelta(seconds=(time.monotonic() - mono) * rate)

    def monotonic(self) -> float:
        # Real seconds: monotonic readings measure how long real work took (poll latency).
        return time.monotonic()
