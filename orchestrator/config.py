"""The configuration model (platforms, monitors, channels, audiences...) and `load_config`."""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, field_validator, model_validator

from channels.base import ChannelConfig
from channels.registry import channel_classes
from orchestrator.durations import Duration
from orchestrator.models import HttpUrl, Name, Secret, StrictModel
from orchestrator.monitors.base import MonitorConfig
from orchestrator.monitors.canary import CanaryConfig
from orchestrator.monitors.registry import monitor_classes

DEFAULT_STORAGE = "sqlite:///./orchestrator.db"


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}: use an IANA name such as "
                         "America/New_York or UTC") from None
    return value


TimeZone = Annotated[str, AfterValidator(_check_timezone)]


class MaintenanceWindow(StrictModel):
    """A vendor maintenance window announced in advance: the platform reads as `maintenance`."""

    start: str  # ISO 8601 with offset
    end: str

    @model_validator(mode="after")
    def _ordered(self):
        from datetime import datetime
        try:
            start, end = datetime.fromisoformat(self.start), datetime.fromisoformat(self.end)
        except ValueError as exc:
            raise ValueError(f"start and end must be ISO 8601 times: {exc}") from None
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end need a UTC offset, such as 2026-11-22T02:00:00+00:00")
        if end <= start:
            raise ValueError("end must be after start")
        return self


_QUORUM = re.compile(r"^quorum:\s*(\d+)$")


class PlatformConfig(StrictModel):
    """A named external service and how its monitors combine into one state."""

    display_name: str | None = None
    family: Name | None = None
    policy: str = "any"                 # any | all | quorum: N
    hold: Duration = timedelta(minutes=2)  # minimum time in a state, against flapping
    unknown_after: int = Field(default=3, ge=1)  # failed polls of the signal itself
    dead_signal_is_outage: bool = False
    maintenance: list[MaintenanceWindow] = []

    @field_validator("policy", mode="before")
    @classmethod
    def _policy(cls, value: Any) -> str:
        if isinstance(value, dict) and set(value) == {"quorum"}:
            value = f"quorum: {value['quorum']}"
        text = str(value).strip()
        if text in ("any", "all") or _QUORUM.match(text):
            return text
        raise ValueError(f"invalid policy {value!r}: use any, all or 'quorum: N'")

    def quorum(self) -> int | None:
        match = _QUORUM.match(self.policy)
        return int(match.group(1)) if match else None


class HttpServerConfig(StrictModel):
    listen: str = Field(default="127.0.0.1:8080", pattern=r"^[\w.\-\[\]:]+:\d{1,5}$")
    public_url: HttpUrl | None = None
    token: Secret | None = None         # bearer token for the ops API
    # SendGrid's public key for event webhook signatures (base64 DER, Mail Settings).
    sendgrid_verification_key: str | None = None


class QuietHours(StrictModel):
    """Non-urgent SMS wait for the recipient's local morning."""

    start: time = time(21, 0)
    end: time = time(8, 0)
    channels: list[Name] = ["sms"]


class ClusterConfig(StrictModel):
    """Replicas on PostgreSQL: the leader lease that decides who runs the timers."""

    # A leader renews every third of this and steps down by itself before it runs out.
    lease_ttl: Duration = timedelta(seconds=15)

    @field_validator("lease_ttl")
    @classmethod
    def _sane_ttl(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(minutes=10):
            raise ValueError("lease_ttl must be between 1s and 10m")
        return value


class AudienceConfig(StrictModel):
    source: Literal["store", "csv"] = "store"
    path: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _csv_needs_path(self):
        if self.source == "csv" and not self.path:
            raise ValueError("an audience with source: csv needs a path")
        if self.source == "store" and self.path:
            raise ValueError("path is only for source: csv")
        return self


def _discriminated(classes: list[type]) -> Any:
    if len(classes) == 1:
        return classes[0]
    return Annotated[Union[tuple(classes)], Field(discriminator="kind")]  # noqa: UP007


ChannelConfigs = _discriminated([c.Config for c in channel_classes().values()])
MonitorConfigs = _discriminated([c.Config for c in monitor_classes().values()])


class Config(StrictModel):
    """The whole configuration file."""

    storage: str = DEFAULT_STORAGE
    timezone: TimeZone = "UTC"
    quiet_hours: QuietHours | None = None
    http: HttpServerConfig = HttpServerConfig()
    cluster: ClusterConfig = ClusterConfig()
    playbooks: str = "playbooks"        # folder of playbook files, relative to the config
    platforms: dict[Name, PlatformConfig] = {}
    monitors: list[MonitorConfigs] = []  # type: ignore[valid-type]
    canaries: list[CanaryConfig] = []
    channels: dict[Name, ChannelConfigs] = {}  # type: ignore[valid-type]
    audiences: dict[Name, AudienceConfig] = {}

    @field_validator("storage")
    @classmethod
    def _storage(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
            raise ValueError("storage must be a sqlite:/// or postgresql:// URL")
        return value

    def channel(self, name: str) -> ChannelConfig:
        return self.channels[name]

    def monitor_configs(self) -> list[MonitorConfig]:
        return list(self.monitors)

    def platform_label(self, name: str) -> str:
        platform = self.platforms.get(name)
        return (platform.display_name if platform and platform.display_name else name)


def load_config(path: str | Path, env: dict[str, str] | None = None) -> Config:
    """Load and check a config file; raise ConfigError listing every located problem."""
    from orchestrator.loader import load_config_file
    return load_config_file(Path(path), env=env)
