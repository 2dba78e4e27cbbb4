"""Social listening: a spike in public posts mentioning a term, against its own learned baseline."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Literal

from pydantic import Field

from orchestrator.durations import Duration
from orchestrator.models import PlatformState
from orchestrator.monitors.base import MonitorConfig, UrlMonitorConfig


class MentionsConfig(UrlMonitorConfig):
    kind: Literal["mentions"]
    shape: Literal["series", "count"] = "series"  # X-style counts series, or {"count": N}
    series_path: str = "data"
    count_path: str = "tweet_count"
    window: Duration = timedelta(hours=1)
    spike_ratio: float = Field(default=2.5, gt=1)
    min_count: int = Field(default=100, ge=0)
    spike_state: PlatformState = "partial_outage"


class MentionsMonitor:
    kind: ClassVar[str] = "mentions"
    Config: ClassVar[type[MonitorConfig]] = MentionsConfig
