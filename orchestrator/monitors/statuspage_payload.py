"""Pure reading of Statuspage v2 documents (status, summary, incidents, maintenances)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.monitors.fetch import BadResponse
from orchestrator.monitors.observe import worst

COMPONENT_STATES = {"operational": "operational", "degraded_performance": "degraded",
                    "partial_outage": "partial_outage", "major_outage": "major_outage",
                    "under_maintenance": "maintenance"}
# Statuspage's own words: minor = "Minor Service Outage", major = "Partial System Outage",
# critical = "Major System Outage"; webhooks add "maintenance".
INDICATOR_STATES = {"none": "operational", "minor": "degraded", "major": "partial_outage",
                    "critical": "major_outage", "maintenance": "maintenance"}
CLOSED_INCIDENT = {"resolved", "postmortem", "completed"}
ACTIVE_MAINTENANCE = {"in_progress", "verifying"}
_MAX_LISTED = 20


@dataclass(frozen=True)
class Reading:
    """What a document says about the watched scope (whole page, or the filtered components)."""

    state: str
    reason: str
    maintenance: bool = False
    detail: dict[str, Any] = field(default_factory=dict)


def component_state(status: Any) -> str:
    return COMPONENT_STATES.get(str(status), "unknown")


def indicator_state(indicator: Any) -> str:
    return INDICATOR_STATES.get(str(indicator), "unknown")


def matches(item: dict[str, Any], wanted: Sequence[str]) -> bool:
    """A component (or affected component) matches a filter entry by id/code or by name."""
    names = {str(item.get("name", "")).casefold()}
    ids = {str(item.get(k)) for k in ("id", "code", "component_id") if item.get(k)}
    return any(w in ids or w.casefold() in names for w in wanted)


def read_document(doc: Any, components: Sequence[str] = ()) -> Reading:
    """Dispatch on the document's shape, which is what tells the endpoint apart."""
    if not isinstance(doc, dict):
        raise BadResponse(f"not a Statuspage v2 document: top level is a {type(doc).__name__}")
    if isinstance(doc.get("components"), list):
        return read_summary(doc, components)
    if isinstance(doc.get("incidents"), list):
        return read_incidents(doc["incidents"], components, _page(doc))
    if isinstance(doc.get("scheduled_maintenances"), list):
        return read_maintenances(doc["scheduled_maintenances"], components, _page(doc))
    if isinstance(doc.get("status"), dict) and "indicator" in doc["status"]:
        if components:
            raise BadResponse("status.json lists no components: point url at summary.json "
                              "to watch " + ", ".join(components))
        return _from_indicator(doc["status"], _page(doc))
    keys = ", ".join(sorted(map(str, doc))[:8]) or "none"
    raise BadResponse("not a Statuspage v2 document: expected status, components, incidents "
                      f"or scheduled_maintenances; found keys {keys}")


def _page(doc: dict[str, Any]) -> dict[str, Any]:
    page = doc.get("page") if isinstance(doc.get("page"), dict) else {}
    return {"page": page.get("name")} if page.get("name") else {}


def _from_indicator(status: dict[str, Any], detail: dict[str, Any]) -> Reading:
    indicator = status.get("indicator")
    state = indicator_state(indicator)
    description = status.get("description") or ""
    detail = {**detail, "endpoint": "status", "indicator": indicator, "description": description}
    return Reading(state, f"indicator {indicator}: {description}".rstrip(": "),
                   state == "maintenance", detail)


def read_summary(doc: dict[str, Any], wanted: Sequence[str]) -> Reading:
    comps = [c for c in doc["components"] if isinstance(c, dict)]
    status = doc.get("status") if isinstance(doc.get("status"), dict) else {}
    incidents = [i for i in _dicts(doc.get("incidents")) if _open(i)]
    maints = [m for m in _dicts(doc.get("scheduled_maintenances"))
              if m.get("status") in ACTIVE_MAINTENANCE]
    detail = {**_page(doc), "endpoint": "summary", "indicator": status.get("indicator"),
              "description": status.get("description")}
    if wanted:
        watched = _watched(comps, wanted)
        state = worst(component_state(c.get("status")) for c in watched)
        incidents = [i for i in incidents if _touches(i, wanted)]
        maints = [m for m in maints if _touches(m, wanted, unscoped=True)]
        listed = watched
        reason = "; ".join(f"{c.get('name')} {c.get('status')}" for c in watched)
    else:
        state = indicator_state(status.get("indicator")) if status.get("indicator") else \
            worst(component_state(c.get("status")) for c in comps if not c.get("group"))
        listed = [c for c in comps if c.get("status") != "operational"]
        reason = f"indicator {status.get('indicator')}: {status.get('description') or ''}"
    detail["components"] = {str(c.get("name")): c.get("status") for c in listed[:_MAX_LISTED]}
    detail["incidents"] = [_incident(i) for i in incidents[:_MAX_LISTED]]
    detail["maintenances"] = [_incident(m) for m in maints[:_MAX_LISTED]]
    if incidents:
        reason += f"; incident: {incidents[0].get('name')}"
    # Maintenance explains the state only when no unplanned incident touches the scope.
    in_maintenance = bool(maints) and not incidents
    return Reading(state, reason.rstrip(": "), in_maintenance, detail)


def _watched(comps: list[dict[str, Any]], wanted: Sequence[str]) -> list[dict[str, Any]]:
    watched = [c for c in comps if matches(c, wanted)]
    missing = [w for w in wanted if not any(matches(c, [w]) for c in watched)]
    if missing:
        names = ", ".join(str(c.get("name")) for c in comps[:12])
        raise BadResponse(f"component {', '.join(map(repr, missing))} is not on the page "
                          f"(it has: {names}{', ...' if len(comps) > 12 else ''})")
    return watched


def read_incidents(items: Any, wanted: Sequence[str], page: dict[str, Any]) -> Reading:
    """incidents/unresolved.json (or incidents.json, whose closed entries are skipped)."""
    incidents = [i for i in _dicts(items) if _open(i)]
    if wanted:
        incidents = [i for i in incidents if _touches(i, wanted)]
    state = worst(_impact_state(i) for i in incidents)
    reason = "; ".join(f"{i.get('name')} ({i.get('status')}, impact {i.get('impact')})"
                       for i in incidents[:3]) or "no unresolved incidents"
    detail = {**page, "endpoint": "incidents",
              "incidents": [_incident(i) for i in incidents[:_MAX_LISTED]]}
    return Reading(state, reason, False, detail)


def read_maintenances(items: Any, wanted: Sequence[str], page: dict[str, Any]) -> Reading:
    """scheduled-maintenances/active.json: any active one on the scope means maintenance."""
    active = [m for m in _dicts(items) if m.get("status") in ACTIVE_MAINTENANCE]
    if wanted:
        active = [m for m in active if _touches(m, wanted, unscoped=True)]
    detail = {**page, "endpoint": "maintenances",
              "maintenances": [_incident(m) for m in active[:_MAX_LISTED]]}
    if not active:
        return Reading("operational", "no maintenance in progress", False, detail)
    return Reading("maintenance", f"maintenance in progress: {active[0].get('name')}", True,
                   detail)


def _impact_state(incident: dict[str, Any]) -> str:
    # Like Statuspage's own indicator, an open incident with impact "none" changes nothing.
    return indicator_state(incident.get("impact"))


def _open(item: dict[str, Any]) -> bool:
    return item.get("status") not in CLOSED_INCIDENT and not item.get("resolved_at")


def _touches(item: dict[str, Any], wanted: Sequence[str], unscoped: bool = False) -> bool:
    """Whether an incident or maintenance names a watched component; `unscoped` says what a
    page-wide one (naming no component) counts as."""
    named = list(_dicts(item.get("components")))
    for update in _dicts(item.get("incident_updates")):
        named.extend(_dicts(update.get("affected_components")))
    if not named:
        return unscoped
    return any(matches(c, wanted) for c in named)


def _incident(item: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "status", "impact", "shortlink", "scheduled_for", "scheduled_until")
    return {k: item.get(k) for k in keys if item.get(k) is not None}


def _dicts(items: Any) -> Iterable[dict[str, Any]]:
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
