"""Statuspage v2 status pages whose components and incidents tests can flip, served as JSON."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import secrets
import string
import threading
import time
from email.utils import parsedate_to_datetime
from functools import cache
from pathlib import Path
from typing import Any

from starlette.responses import Response

from orchestrator.sandbox.core import RecordedRequest
from orchestrator.sandbox.provider import ProviderApp, http_date, iso_millis, json_response

CAPTURES = Path(__file__).with_name("captures")
COMPONENT_STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage",
                      "under_maintenance")
INDICATORS = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
    "maintenance": "Service Under Maintenance",
}
RANK = {"none": 0, "maintenance": 1, "minor": 2, "major": 3, "critical": 4}

# Each document's parts after "page", in the captured order; KEYS renames parts.
DOCUMENTS = {
    "status.json": ["status"],
    "components.json": ["components"],
    "incidents.json": ["incidents"],
    "incidents/unresolved.json": ["unresolved"],
    "scheduled-maintenances.json": ["maintenances"],
    "scheduled-maintenances/active.json": ["active"],
    "summary.json": ["components", "unresolved", "active", "status"],
}
KEYS = {"unresolved": "incidents", "maintenances": "scheduled_maintenances",
        "active": "scheduled_maintenances"}

# The pages every sandbox starts with: slug -> (name, components).
DEFAULT_PAGES: dict[str, tuple[str, list[str]]] = {
    "meta": ("Meta", ["Facebook Pages", "Instagram", "WhatsApp Business API", "Messenger"]),
    "x": ("X", ["Posting", "API", "Direct Messages"]),
    "linkedin": ("LinkedIn", ["Feed", "Marketing API", "Messaging"]),
}


@cache
def capture(name: str) -> dict[str, Any]:
    return json.loads((CAPTURES / name).read_text())


def _templates() -> tuple[dict, dict, dict]:
    """A component, an incident and an incident update, in the newest captured shape."""
    incident = capture("github_incidents_2024-09-17.json")["incidents"][0]
    return incident["components"][0], incident, incident["incident_updates"][0]


def _new_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(12))


def _fill(template: dict[str, Any], **values: Any) -> dict[str, Any]:
    """`template`'s keys in its order, each set to a value given here or else to None."""
    return {key: values.get(key) for key in template}


class StatusPage:
    """One page: components, incidents and maintenances, rendered as the v2 documents."""

    def __init__(self, slug: str, name: str, components: list[str]) -> None:
        self.slug = slug
        self.lock = threading.RLock()
        now = iso_millis(time.time())
        self.page = {"id": _new_id(), "name": name, "url": f"https://{slug}.statuspage.io",
                     "time_zone": "Etc/UTC", "updated_at": now}
        component, _, _ = _templates()
        self.components = [
            _fill(component, id=_new_id(), name=label, status="operational", created_at=now,
                  updated_at=now, position=index, description=None, showcase=True,
                  start_date=None, page_id=self.page["id"], group=False,
                  only_show_if_degraded=False)
            for index, label in enumerate(components, 1)
        ]
        self.incidents: list[dict[str, Any]] = []
        self.maintenances: list[dict[str, Any]] = []
        self.indicator_override: tuple[str, str] | None = None
        self.modified = time.time()

    def _touch(self) -> str:
        # Last-Modified has whole seconds: move on by at least one per change, so a client
        # revalidating with If-Modified-Since never misses a change made within a second.
        self.modified = max(time.time(), math.floor(self.modified) + 1)
        self.page["updated_at"] = iso_millis(self.modified)
        return self.page["updated_at"]

    def component(self, name: str) -> dict[str, Any]:
        for component in self.components:
            if component["name"] == name:
                return component
        names = ", ".join(c["name"] for c in self.components)
        raise KeyError(f"page {self.slug!r} has no component {name!r} (it has: {names})")

    # -- changes tests make -----------------------------------------------------------

    def set_component(self, name: str, status: str) -> dict[str, str]:
        """Set a component's status; returns {code, name, old_status, new_status}."""
        if status not in COMPONENT_STATUSES:
            raise ValueError(f"unknown component status {status!r}; use one of "
                             + ", ".join(COMPONENT_STATUSES))
        with self.lock:
            component = self.component(name)
            change = {"code": component["id"], "name": name,
                      "old_status": component["status"], "new_status": status}
            component["status"], component["updated_at"] = status, self._touch()
            return change

    def set_indicator(self, indicator: str | None, description: str | None = None) -> None:
        """Force the page indicator (None goes back to deriving it from the components)."""
        if indicator is not None and indicator not in INDICATORS:
            raise ValueError(f"unknown indicator {indicator!r}; use one of "
                             + ", ".join(INDICATORS))
        with self.lock:
            self.indicator_override = (
                (indicator, description or INDICATORS[indicator]) if indicator else None)
            self._touch()

    def open_incident(self, name: str, *, impact: str = "major", status: str = "investigating",
                      body: str = "We are investigating reports of degraded service.",
                      components: dict[str, str] | None = None,
                      maintenance: bool = False) -> str:
        """Open an incident (or start a maintenance), setting the named components' statuses."""
        _, incident_template, _ = _templates()
        with self.lock:
            now = self._touch()
            incident_id = _new_id()
            incident = _fill(
                incident_template, id=incident_id, name=name, status=status, created_at=now,
                updated_at=now, impact=impact, shortlink=f"https://stspg.io/{incident_id[:8]}",
                started_at=now, page_id=self.page["id"], incident_updates=[], components=[],
                reminder_intervals=None,
            )
            if maintenance:
                incident.update(scheduled_for=now, scheduled_until=None)
            (self.maintenances if maintenance else self.incidents).insert(0, incident)
            self._update(incident, status, body, components or {})
            return incident_id

    def update_incident(self, incident_id: str, status: str, body: str,
                        components: dict[str, str] | None = None) -> None:
        with self.lock:
            self._update(self._incident(incident_id), status, body, components or {})

    def resolve_incident(self, incident_id: str, body: str = "This incident has been resolved.",
                         restore: bool = True) -> None:
        """Resolve it; with `restore`, its components go back to operational."""
        with self.lock:
            incident = self._incident(incident_id)
            back = {c["name"]: "operational" for c in incident["components"]} if restore else {}
            final = "completed" if incident in self.maintenances else "resolved"
            self._update(incident, final, body, back)
            incident["resolved_at"] = incident["updated_at"]

    def _incident(self, incident_id: str) -> dict[str, Any]:
        for incident in self.incidents + self.maintenances:
            if incident["id"] == incident_id:
                return incident
        raise KeyError(f"page {self.slug!r} has no incident {incident_id!r}")

    def _update(self, incident: dict, status: str, body: str, components: dict[str, str]) -> None:
        _, _, update_template = _templates()
        affected = [self.set_component(name, new) for name, new in components.items()]
        now = self._touch()
        for name in components:
            if all(c["name"] != name for c in incident["components"]):
                incident["components"].append(copy.deepcopy(self.component(name)))
        incident["components"] = [copy.deepcopy(self.component(c["name"]))
                                  for c in incident["components"]]
        incident["incident_updates"].insert(0, _fill(
            update_template, id=_new_id(), status=status, body=body, incident_id=incident["id"],
            created_at=now, updated_at=now, display_at=now, affected_components=affected or None,
            deliver_notifications=True,
        ))
        incident.update(status=status, updated_at=now)
        if status == "monitoring":
            incident["monitoring_at"] = now

    # -- the documents ------------------------------------------------------------------

    def status(self) -> dict[str, str]:
        with self.lock:
            if self.indicator_override:
                indicator, description = self.indicator_override
                return {"indicator": indicator, "description": description}
            indicator = self._derived()
            return {"indicator": indicator, "description": INDICATORS[indicator]}

    def _derived(self) -> str:
        statuses = [c["status"] for c in self.components if not c["group"]]
        indicator = "none"
        if statuses and all(s == "major_outage" for s in statuses):
            indicator = "critical"
        elif "major_outage" in statuses:
            indicator = "major"
        elif "partial_outage" in statuses or "degraded_performance" in statuses:
            indicator = "minor"
        elif "under_maintenance" in statuses:
            indicator = "maintenance"
        for incident in self.unresolved():
            impact = incident["impact"] if incident["impact"] in RANK else "none"
            indicator = max(indicator, impact, key=RANK.__getitem__)
        return indicator

    def unresolved(self) -> list[dict[str, Any]]:
        return [i for i in self.incidents if i["status"] not in ("resolved", "postmortem")]

    def active_maintenances(self) -> list[dict[str, Any]]:
        return [m for m in self.maintenances if m["status"] in ("in_progress", "verifying")]

    def document(self, name: str) -> dict[str, Any] | None:
        """The JSON for /api/v2/{name}, or None for an unknown document."""
        if name not in DOCUMENTS:
            return None
        parts = {
            "status": self.status, "components": lambda: self.components,
            "incidents": lambda: self.incidents[:50], "unresolved": self.unresolved,
            "maintenances": lambda: self.maintenances, "active": self.active_maintenances,
        }
        with self.lock:
            document = {"page": self.page}
            document.update((KEYS.get(part, part), parts[part]()) for part in DOCUMENTS[name])
            return copy.deepcopy(document)


class StatuspageSandbox(ProviderApp):
    """Serves every page at /{slug}/api/v2/...; `set_component` finds a page by component."""

    name = "statuspage"

    def reset(self) -> None:
        with self.lock:
            self.pages: dict[str, StatusPage] = {
                slug: StatusPage(slug, name, components)
                for slug, (name, components) in DEFAULT_PAGES.items()
            }

    def routes(self):
        return [("/{page}/api/v2/{document:path}", ["GET"], self.serve)]

    def add_page(self, slug: str, name: str, components: list[str]) -> StatusPage:
        with self.lock:
            self.pages[slug] = StatusPage(slug, name, components)
            return self.pages[slug]

    def page(self, slug: str | None = None, component: str | None = None) -> StatusPage:
        """A page by slug, or the one page that has a component of that name."""
        with self.lock:
            if slug is not None:
                if slug not in self.pages:
                    raise KeyError(f"no status page {slug!r} (pages: {', '.join(self.pages)})")
                return self.pages[slug]
            found = [p for p in self.pages.values()
                     if any(c["name"] == component for c in p.components)]
        if len(found) != 1:
            where = ", ".join(p.slug for p in found) or "no page"
            raise KeyError(f"component {component!r} is on {where}; pass page=")
        return found[0]

    def set_component(self, component: str, status: str, page: str | None = None) -> None:
        self.page(page, component).set_component(component, status)

    def set_indicator(self, indicator: str | None, page: str,
                      description: str | None = None) -> None:
        self.page(page).set_indicator(indicator, description)

    def open_incident(self, name: str, page: str, **kwargs: Any) -> str:
        return self.page(page).open_incident(name, **kwargs)

    def resolve_incident(self, incident_id: str, page: str, **kwargs: Any) -> None:
        self.page(page).resolve_incident(incident_id, **kwargs)

    def not_found(self, request: RecordedRequest) -> Response:
        return json_response({"error": "Not Found"}, 404)

    async def serve(self, request: RecordedRequest) -> Response:
        with self.lock:
            page = self.pages.get(request.path_params["page"])
        document = page.document(request.path_params["document"]) if page else None
        if document is None:
            return self.not_found(request)
        body = json.dumps(document, separators=(",", ":")).encode()
        etag = 'W/"' + hashlib.md5(body).hexdigest() + '"'
        headers = {"ETag": etag, "Last-Modified": http_date(page.modified),
                   "Cache-Control": "max-age=0, private, must-revalidate", "Vary": "Accept"}
        if _not_modified(request.headers, etag, page.modified):
            return Response(status_code=304, headers=headers)
        return Response(body, 200, headers=headers, media_type="application/json")


def _not_modified(headers: dict[str, str], etag: str, modified: float) -> bool:
    """RFC 9110: If-None-Match wins; If-Modified-Since counts only without it."""
    if "if-none-match" in headers:
        wanted = [tag.strip().removeprefix("W/") for tag in headers["if-none-match"].split(",")]
        return "*" in wanted or etag.removeprefix("W/") in wanted
    if "if-modified-since" in headers:
        try:
            since = parsedate_to_datetime(headers["if-modified-since"]).timestamp()
        except (TypeError, ValueError):
            return False
        return int(modified) <= since
    return False
