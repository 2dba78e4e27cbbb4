"""Inbound signals: Statuspage webhooks and a generic JSON push, parsed into observations."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Literal

from orchestrator.durations import Duration
from orchestrator.models import Secret
from orchestrator.monitors.base import MonitorConfig
from orchestrator.monitors.http import StateFrom


class PushConfig(MonitorConfig):
    kind: Literal["push"]
    format: Literal["statuspage", "json"] = "statuspage"
    token: Secret                      # the secret path segment of the inbound URL
    components: list[str] = []
    state_from: StateFrom | None = None  # for format: json
    stale_after: Duration = timedelta(hours=24)  # no push for this long: state unknown


class PushMonitor:
    kind: ClassVar[str] = "push"
    Config: ClassVar[type[MonitorConfig]] = PushConfig
