"""Any URL, judged by Gatus-style conditions and an optional map from a JSON value to a state."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from orchestrator.models import PlatformState, StrictModel
from orchestrator.monitors.base import MonitorConfig, UrlMonitorConfig


class StateFrom(StrictModel):
    """Read a state from the JSON body: `path` is dotted, `map` turns its values into states."""

    path: str = Field(min_length=1)
    map: dict[str, PlatformState] = Field(min_length=1)
    default: PlatformState = "unknown"


class HttpMonitorConfig(UrlMonitorConfig):
    kind: Literal["http"]
    method: Literal["GET", "HEAD", "POST"] = "GET"
    body: str | None = None
    conditions: list[str] = ["[STATUS] == 200"]
    state_from: StateFrom | None = None
    failed_state: PlatformState = "major_outage"  # state when a condition fails


class HttpMonitor:
    kind: ClassVar[str] = "http"
    Config: ClassVar[type[MonitorConfig]] = HttpMonitorConfig
