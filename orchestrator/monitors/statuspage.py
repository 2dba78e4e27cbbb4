"""Atlassian Statuspage v2 pages (status.json, summary.json...), optionally per component."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import ValidationInfo, field_validator

from orchestrator.models import PLATFORM_STATES
from orchestrator.monitors.base import MonitorConfig, Observation, UrlMonitorConfig
from orchestrator.monitors.fetch import (
    BadResponse,
    FetchLimits,
    Validators,
    decode_json,
    expect_success,
    fetch,
)
from orchestrator.monitors.observe import Clock, failed, observed, seconds, utcnow
from orchestrator.monitors.statuspage_payload import Reading, read_document

log = logging.getLogger(__name__)


class StatuspageConfig(UrlMonitorConfig, FetchLimits):
    kind: Literal["statuspage"]
    components: list[str] = []          # names (any case) or ids; empty means the whole page
    include_maintenance: bool = True    # report in-progress maintenance as maintenance

    @field_validator("components")
    @classmethod
    def _components_need_summary(cls, value: list[str], info: ValidationInfo) -> list[str]:
        path = str(info.data.get("url", "")).split("?", 1)[0].rstrip("/")
        if value and path.endswith("/status.json"):
            raise ValueError("status.json lists no components: use summary.json (or "
                             "incidents/unresolved.json) to watch " + ", ".join(value))
        return value


class StatuspageMonitor:
    """Polls one Statuspage document with conditional GET; its shape tells the endpoint."""

    kind: ClassVar[str] = "statuspage"
    Config: ClassVar[type[MonitorConfig]] = StatuspageConfig

    def __init__(self, config: StatuspageConfig, *, clock: Clock = utcnow):
        self.config = config
        self.clock = clock
        self.validators = Validators()
        self.last: Reading | None = None

    async def check(self, client: Any) -> Observation:
        c, at = self.config, self.clock()
        headers = {"Accept": "application/json", **c.headers, **self.validators.headers()}
        result = await fetch(client, c.url, headers=headers, timeout=seconds(c),
                             max_bytes=c.max_bytes, max_redirects=c.max_redirects,
                             allow_private=c.allow_private)
        latency = result.latency_ms
        if result.status == 304 and not result.error:
            if self.last is None:
                self.validators = Validators()
                return failed(c, at, "HTTP 304 but no earlier reading to repeat",
                              latency_ms=latency)
            return self._observation(self.last, at, latency, not_modified=True)
        try:
            expect_success(result)
            reading = read_document(decode_json(result), c.components)
        except BadResponse as exc:
            return failed(c, at, str(exc), latency_ms=latency)
        except Exception as exc:  # noqa: BLE001 - an odd payload must not stop the scheduler
            log.warning("monitor %s could not read %s", c.name, c.url, exc_info=True)
            return failed(c, at, f"unreadable Statuspage document: {type(exc).__name__}",
                          latency_ms=latency)
        self.last = reading
        self.validators.remember(result)
        return self._observation(reading, at, latency)

    def _observation(self, reading: Reading, at, latency: float,
                     not_modified: bool = False) -> Observation:
        state, maintenance = reading.state, reading.maintenance
        if not self.config.include_maintenance:
            maintenance = False
            state = "operational" if state == "maintenance" else state
        detail = dict(reading.detail)
        detail.update((k, v) for k, v in self.validators.as_dict().items() if v)
        if not_modified:
            detail["not_modified"] = True
        return observed(self.config, at, state, reason=reading.reason, latency_ms=latency,
                        maintenance=maintenance, detail=detail)

    def state_dict(self) -> dict[str, Any]:
        """Validators and the last reading, so a restart can keep using conditional GET."""
        last = None
        if self.last is not None:
            last = {"state": self.last.state, "reason": self.last.reason,
                    "maintenance": self.last.maintenance, "detail": self.last.detail}
        return {**self.validators.as_dict(), "last": last}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore `state_dict()` output; anything malformed is dropped, costing one full GET."""
        last = state.get("last") if isinstance(state, Mapping) else None
        try:
            if last["state"] not in PLATFORM_STATES:
                raise ValueError(last["state"])
            self.last = Reading(str(last["state"]), str(last.get("reason", "")),
                                bool(last.get("maintenance")), dict(last.get("detail") or {}))
        except (TypeError, KeyError, ValueError, AttributeError):
            self.validators, self.last = Validators(), None
            return
        self.validators = Validators.from_dict(state)
