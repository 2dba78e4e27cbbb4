"""Helpers every monitor shares to build Observations: the clock, failure, and state severity."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from orchestrator.monitors.base import MonitorConfig, Observation

Clock = Callable[[], datetime]

# Worse states rank higher; maintenance ranks just above operational because planned work
# is expected, and "unknown" is not a state of the platform, only of our knowledge.
SEVERITY = {"operational": 0, "maintenance": 1, "degraded": 2, "partial_outage": 3,
            "major_outage": 4}


def utcnow() -> datetime:
    return datetime.now(UTC)


def worst(states: Iterable[str]) -> str:
    """The most severe known state, "operational" for none, "unknown" when only unknown."""
    listed = list(states)
    known = [s for s in listed if s in SEVERITY]
    if known:
        return max(known, key=SEVERITY.__getitem__)
    return "unknown" if listed else "operational"


def failed(config: MonitorConfig, at: datetime, reason: str, *,
           latency_ms: float | None = None, detail: dict[str, Any] | None = None) -> Observation:
    """The signal itself failed: not evidence of an outage, and the detector counts it so."""
    return Observation(monitor=config.name, platform=config.platform, at=at, state="unknown",
                       ok=False, reason=reason, latency_ms=latency_ms, detail=detail or {})


def observed(config: MonitorConfig, at: datetime, state: str, *, reason: str = "",
             latency_ms: float | None = None, maintenance: bool = False,
             detail: dict[str, Any] | None = None) -> Observation:
    return Observation(monitor=config.name, platform=config.platform, at=at,
                       state=state,  # type: ignore[arg-type]
                       ok=True, reason=reason, latency_ms=latency_ms,
                       maintenance=maintenance or state == "maintenance", detail=detail or {})


def seconds(config: MonitorConfig) -> float:
    return config.timeout.total_seconds()
