"""RSS and Atom status feeds: new entries matching keywords open states, "resolved" closes them."""

from __future__ import annotations

from typing import ClassVar, Literal

from orchestrator.models import PlatformState
from orchestrator.monitors.base import MonitorConfig, UrlMonitorConfig


class FeedConfig(UrlMonitorConfig):
    kind: Literal["feed"]
    keywords: dict[PlatformState, list[str]] = {
        "major_outage": ["outage", "down", "unavailable"],
        "degraded": ["degraded", "elevated error", "slow", "delay"],
        "maintenance": ["maintenance"],
    }
    resolved_words: list[str] = ["resolved", "restored", "recovered", "operational"]


class FeedMonitor:
    kind: ClassVar[str] = "feed"
    Config: ClassVar[type[MonitorConfig]] = FeedConfig
