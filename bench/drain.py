"""Times one dispatcher draining an outbox until idle: the shared core of the outbox benches."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from orchestrator.dispatcher import Dispatcher


def timed_drain(engine: Any, channels: dict[str, Any], expected: int,
                policies: dict[str, Any] | None = None) -> float:
    """Seconds for a dispatcher to send every pending row; fails unless `expected` were sent."""

    async def drain() -> None:
        dispatcher = Dispatcher(engine, channels, policies=policies, poll_interval=0.01)
        try:
            stats = await dispatcher.run_until_idle(horizon=1)
        finally:
            await dispatcher.aclose()
        assert stats.sent == expected, stats

    started = time.perf_counter()
    asyncio.run(drain())
    return time.perf_counter() - started
