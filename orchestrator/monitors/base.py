"""The Monitor interface, the Observation it yields, and the config keys every kind shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import Field, ValidationInfo, field_validator, model_validator

from orchestrator.durations import Duration
from orchestrator.models import Name, PlatformState, StrictModel, check_url


class MonitorConfig(StrictModel):
    """Keys every monitor kind accepts; each kind subclasses this with `kind: Literal[...]`."""

    name: Name
    platform: Name
    kind: str
    interval: Duration = timedelta(seconds=30)
    timeout: Duration = timedelta(seconds=10)
    failure_threshold: int = Field(default=2, ge=1, le=100)
    success_threshold: int = Field(default=2, ge=1, le=100)
    allow_private: bool = False
    enabled: bool = True

    @model_validator(mode="after")
    def _timeout_below_interval(self):
        if self.timeout > self.interval:
            raise ValueError("timeout must not be longer than interval")
        return self


class UrlMonitorConfig(MonitorConfig):
    """A monitor that polls a URL: private addresses are re-checked with `allow_private`."""

    url: str
    headers: dict[str, str] = {}

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str, info: ValidationInfo) -> str:
        # allow_private is declared (so validated) before url, which lets the error sit on url.
        return check_url(value, allow_private=bool(info.data.get("allow_private")))


@dataclass(frozen=True)
class Observation:
    """One poll's verdict about one platform, as a monitor saw it.

    `ok` is False when the signal itself failed (timeout, 5xx, unparsable body): that is a
    failed poll, not evidence of an outage, and the detector treats it so.
    """

    monitor: str
    platform: str
    at: datetime
    state: PlatformState
    ok: bool = True
    reason: str = ""
    latency_ms: float | None = None
    maintenance: bool = False
    detail: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Monitor(Protocol):
    """One signal about a platform. The scheduler owns the loop; a monitor only checks once."""

    kind: ClassVar[str]
    Config: ClassVar[type[MonitorConfig]]

    async def check(self, client: Any) -> Observation: ...
