"""Atlassian Statuspage v2 pages (status.json, summary.json...), optionally filtered to components."""

from __future__ import annotations

from typing import ClassVar, Literal

from orchestrator.monitors.base import MonitorConfig, UrlMonitorConfig


class StatuspageConfig(UrlMonitorConfig):
    kind: Literal["statuspage"]
    components: list[str] = []          # names or ids; empty means the whole page
    include_maintenance: bool = True    # read scheduled-maintenances/active.json too


class StatuspageMonitor:
    kind: ClassVar[str] = "statuspage"
    Config: ClassVar[type[MonitorConfig]] = StatuspageConfig
