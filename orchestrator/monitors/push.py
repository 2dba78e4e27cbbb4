"""Inbound signals: Statuspage webhooks and a generic JSON push, parsed into observations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from orchestrator.durations import Duration, format_duration
from orchestrator.models import PLATFORM_STATES, Secret
from orchestrator.monitors.base import MonitorConfig, Observation
from orchestrator.monitors.conditions import Unreadable
from orchestrator.monitors.http import StateFrom, read_state
from orchestrator.monitors.observe import Clock, failed, observed, utcnow, worst
from orchestrator.monitors.statuspage_payload import component_state, indicator_state, matches


class PushConfig(MonitorConfig):
    kind: Literal["push"]
    format: Literal["statuspage", "json"] = "statuspage"
    token: Secret                      # the secret path segment of the inbound URL
    components: list[str] = []
    state_from: StateFrom | None = None  # for format: json
    stale_after: Duration = timedelta(hours=24)  # no push for this long: state unknown


class BadPush(ValueError):
    """A pushed body that says nothing we can use; the message is the reason."""


class PushMonitor:
    """Keeps the last pushed verdict (and, with a component filter, each watched component's
    last status) so `check()` can repeat it until it goes stale."""

    kind: ClassVar[str] = "push"
    Config: ClassVar[type[MonitorConfig]] = PushConfig

    def __init__(self, config: PushConfig, *, clock: Clock = utcnow):
        self.config = config
        self.clock = clock
        self.components: dict[str, dict[str, str]] = {}  # component id -> {name, status}
        self.last: Observation | None = None

    def receive(self, payload: Any, now: datetime | None = None) -> Observation:
        """Turn one inbound body into an Observation; a useless body yields ok=False and
        leaves the remembered state alone."""
        at = now or self.clock()
        try:
            if not isinstance(payload, Mapping):
                raise BadPush(f"expected a JSON object, got {type(payload).__name__}")
            if self.config.format == "json":
                state, reason, detail = self._json(payload)
            else:
                state, reason, detail = self._statuspage(payload)
        except (BadPush, Unreadable) as exc:
            return failed(self.config, at, f"unusable push: {exc}")
        obs = observed(self.config, at, state, reason=reason,
                       detail={**detail, "pushed_at": at.isoformat()})
        self.last = obs
        return obs

    async def check(self, client: Any = None) -> Observation:
        """The last pushed state, or a failed poll when nothing came within `stale_after`."""
        now = self.clock()
        if self.last is None:
            return failed(self.config, now, "no push received yet")
        if now - self.last.at > self.config.stale_after:
            return failed(self.config, now, "no push for more than "
                          f"{format_duration(self.config.stale_after)} (last at "
                          f"{self.last.at.isoformat()})")
        return replace(self.last, at=now)

    def _json(self, payload: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
        if self.config.state_from is None:
            raise BadPush("format json needs state_from in the monitor's config")
        state, value = read_state(self.config.state_from, dict(payload))
        return state, f"{self.config.state_from.path} is {value!r}", {"value": value}

    def _statuspage(self, payload: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """A component_update or an incident notification (dispatch on the key present)."""
        page = payload.get("page") if isinstance(payload.get("page"), Mapping) else {}
        detail: dict[str, Any] = {}
        if isinstance(payload.get("component_update"), Mapping):
            component = payload.get("component") or {}
            update = payload["component_update"]
            if not isinstance(component, Mapping):
                raise BadPush("component_update without a component")
            name = component.get("name") or update.get("component_id")
            detail["component"] = {"name": name, "old_status": update.get("old_status"),
                                   "new_status": update.get("new_status")}
            self._track([{**component, "status": update.get("new_status")
                          or component.get("status")}])
            reason = f"{name}: {update.get('old_status')} → {update.get('new_status')}"
        elif isinstance(payload.get("incident"), Mapping):
            incident = payload["incident"]
            listed = [c for c in incident.get("components") or [] if isinstance(c, Mapping)]
            self._track(listed)
            detail["incident"] = {k: incident.get(k) for k in
                                  ("name", "status", "impact", "shortlink") if incident.get(k)}
            reason = (f"incident {incident.get('name')!r} {incident.get('status')} "
                      f"(impact {incident.get('impact')})")
        else:
            raise BadPush("a Statuspage webhook carries component_update or incident; "
                          "this one has neither")
        detail["indicator"] = page.get("status_indicator")
        return self._scope_state(page, payload), reason, detail

    def _track(self, components: list[Mapping[str, Any]]) -> None:
        for component in components:
            if not self.config.components or matches(dict(component), self.config.components):
                key = str(component.get("id") or component.get("name"))
                self.components[key] = {"name": str(component.get("name")),
                                        "status": str(component.get("status"))}

    def _scope_state(self, page: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
        if self.config.components:
            # Components not heard of yet are presumed operational: webhooks only speak
            # of changes.
            return worst(component_state(c["status"]) for c in self.components.values())
        if page.get("status_indicator"):
            return indicator_state(page["status_indicator"])
        incident = payload.get("incident") or {}
        if isinstance(incident, Mapping) and incident.get("impact"):
            open_ = incident.get("status") not in ("resolved", "postmortem", "completed")
            return indicator_state(incident["impact"]) if open_ else "operational"
        return worst(component_state(c["status"]) for c in self.components.values())

    def state_dict(self) -> dict[str, Any]:
        last = None
        if self.last is not None:
            last = {"state": self.last.state, "reason": self.last.reason,
                    "maintenance": self.last.maintenance, "detail": self.last.detail,
                    "at": self.last.at.isoformat()}
        return {"components": dict(self.components), "last": last}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore `state_dict()` output; malformed parts are dropped."""
        if not isinstance(state, Mapping):
            return
        components = state.get("components")
        if isinstance(components, Mapping):
            self.components = {str(k): {"name": str(v.get("name")), "status": str(v.get("status"))}
                               for k, v in components.items() if isinstance(v, Mapping)}
        last = state.get("last")
        try:
            if last["state"] not in PLATFORM_STATES:
                raise ValueError(last["state"])
            self.last = observed(self.config, datetime.fromisoformat(last["at"]),
                                 str(last["state"]), reason=str(last.get("reason", "")),
                                 maintenance=bool(last.get("maintenance")),
                                 detail=dict(last.get("detail") or {}))
        except (TypeError, KeyError, ValueError, AttributeError):
            self.last = None
