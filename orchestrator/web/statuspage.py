"""The public status page: current and recent incidents with their public updates, as HTML,
Statuspage-style JSON and an Atom feed.

Only incidents with at least one public event appear, and only public events are shown:
the operators' timeline (detector readings, approvals) stays private.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from orchestrator.web import queries
from orchestrator.web.inbound import web
from orchestrator.web.state import WebState
from orchestrator.web.templating import render

UPDATE_STATUSES = {"investigating", "identified", "monitoring", "resolved", "update",
                   "scheduled", "in_progress", "verifying", "completed"}
IMPACT = {"major_outage": "critical", "partial_outage": "major", "degraded": "minor",
          "maintenance": "maintenance"}
CACHE = {"Cache-Control": "public, max-age=30"}
FEED_ENTRIES = 50


def update_status(event: dict[str, Any]) -> str:
    status = (event.get("detail") or {}).get("status")
    if status in UPDATE_STATUSES:
        return status
    return "resolved" if event["kind"] == "resolved" else "investigating"


def document(state: WebState, base: str) -> dict[str, Any]:
    """The page in the shape of Statuspage's /api/v2/incidents.json."""
    now = state.clock.now()
    with state.engine.connect() as conn:
        found = queries.public_incidents(conn, now, state.recent_days)
    return {"page": {"name": state.title, "url": base, "updated_at": now.isoformat()},
            "incidents": [_incident(i, base) for i in found]}


def _incident(row: dict[str, Any], base: str) -> dict[str, Any]:
    updates = [{"id": str(e["id"]), "status": update_status(e), "body": e["message"] or "",
                "created_at": e["at"], "updated_at": e["at"]} for e in row["updates"]]
    status = "resolved" if row["state"] == "resolved" else (
        updates[0]["status"] if updates else "investigating")
    return {"id": str(row["id"]), "name": row["title"], "status": status,
            "impact": IMPACT.get(row["platform_state"] or "", "none"),
            "created_at": row["started_at"],
            "updated_at": updates[0]["created_at"] if updates else row["started_at"],
            "resolved_at": row["resolved_at"], "shortlink": f"{base}/#incident-{row['id']}",
            "platform": row["platform"], "incident_updates": updates}


def _base(request: Request) -> str:
    return web(request).public_url(str(request.base_url))


async def page(request: Request) -> HTMLResponse:
    state, base = web(request), _base(request)
    doc = await run_in_threadpool(document, state, base)
    current = [i for i in doc["incidents"] if i["status"] != "resolved"]
    recent = [i for i in doc["incidents"] if i["status"] == "resolved"]
    html = render("status.html", title=state.title, current=current, recent=recent,
                  days=state.recent_days, base=base, updated_at=doc["page"]["updated_at"])
    return HTMLResponse(html, headers=CACHE)


async def incidents_json(request: Request) -> JSONResponse:
    doc = await run_in_threadpool(document, web(request), _base(request))
    return JSONResponse(doc, headers=CACHE)


def feed_entries(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One Atom entry per public update, newest first."""
    # "note", not "update": Jinja would resolve entry.update to dict.update.
    entries = [{"incident": incident, "note": update}
               for incident in doc["incidents"] for update in incident["incident_updates"]]
    entries.sort(key=lambda e: (e["note"]["created_at"], int(e["note"]["id"])), reverse=True)
    return entries[:FEED_ENTRIES]


async def feed(request: Request) -> Response:
    state, base = web(request), _base(request)
    doc = await run_in_threadpool(document, state, base)
    entries = feed_entries(doc)
    updated = entries[0]["note"]["created_at"] if entries else doc["page"]["updated_at"]
    xml = render("feed.atom", title=state.title, base=base, updated=updated, entries=entries)
    return Response(xml, media_type="application/atom+xml", headers=CACHE)


routes = [
    Route("/", page, methods=["GET"]),
    Route("/api/v2/incidents.json", incidents_json, methods=["GET"]),
    Route("/feed.atom", feed, methods=["GET"]),
]
