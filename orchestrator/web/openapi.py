"""The OpenAPI 3.1 document of the ops API, written as data; request bodies come from the
pydantic models the handlers validate with, so the two cannot drift apart."""

from __future__ import annotations

from functools import cache
from typing import Any

from orchestrator import __version__
from orchestrator.web.ops import ApproveBody, PauseBody, ResumeBody, TriggerBody

REF = "#/components/schemas/{model}"
BEARER = [{"bearer": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "401": _json(_ref("Error"), "Missing or wrong bearer token"),
    "503": _json(_ref("Error"), "The API or the needed component is not enabled"),
}
NOT_FOUND = {"404": _json(_ref("Error"), "No such record")}
INVALID = {"422": _json(_ref("Error"), "The body or a parameter is invalid")}
STATE = {"name": "state", "in": "query", "required": False, "schema": {"type": "string"}}
LIMIT = {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}
CHANNEL = {"name": "channel", "in": "query", "required": False, "schema": {"type": "string"}}


def _path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


def _get(summary: str, schema: dict[str, Any], params: list[dict] | None = None,
         found: bool = False) -> dict[str, Any]:
    return {"get": {"summary": summary, "security": BEARER, "parameters": params or [],
                    "responses": {"200": _json(schema), **ERRORS,
                                  **(NOT_FOUND if found else {}), **INVALID}}}


def _post(summary: str, body: str, answer: dict[str, Any], status: str = "200",
          params: list[dict] | None = None, extra: dict | None = None) -> dict[str, Any]:
    return {"post": {"summary": summary, "security": BEARER, "parameters": params or [],
                     "requestBody": {"required": body != "ApproveBody",
                                     "content": {"application/json": {"schema": _ref(body)}}},
                     "responses": {status: _json(answer), **ERRORS, **INVALID,
                                   **(extra or {})}}}


def _array(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


RECORD = {"type": "object", "additionalProperties": True}


def _paths() -> dict[str, Any]:
    result = {"type": "object", "properties": {"result": {}}, "required": ["result"]}
    return {
        "/api/ops/openapi.json": {"get": {"summary": "This document", "security": [],
                                          "responses": {"200": _json({"type": "object"})}}},
        "/api/ops/platforms": _get("Platform states", _array("Platform")),
        "/api/ops/incidents": _get("Incidents, newest first", _array("Incident"),
                                   [STATE, LIMIT]),
        "/api/ops/incidents/{incident_id}": _get(
            "One incident with its full timeline", _ref("IncidentDetail"),
            [_path_id("incident_id")], found=True),
        "/api/ops/runs": _get("Playbook runs, newest first", _array("Run"), [STATE, LIMIT]),
        "/api/ops/runs/{run_id}": _get("One run with its steps", _ref("RunDetail"),
                                       [_path_id("run_id")], found=True),
        "/api/ops/runs/{run_id}/approve": _post(
            "Approve a run waiting at an approval step", "ApproveBody", RECORD,
            params=[_path_id("run_id")],
            extra={**NOT_FOUND, "409": _json(_ref("Error"), "Not waiting for an approval")}),
        "/api/ops/approvals": _get("Runs waiting for an approval", _array("Approval")),
        "/api/ops/posts": _get("Scheduled posts by publish time", _array("Post"),
                               [STATE, LIMIT]),
        "/api/ops/posts/pause": _post("Pause matching scheduled posts", "PauseBody", result),
        "/api/ops/posts/resume": _post("Resume paused posts with a missed-post rule",
                                       "ResumeBody", result),
        "/api/ops/outbox": _get("Outbox rows, newest first", _array("OutboxRow"),
                                [STATE, CHANNEL, LIMIT]),
        "/api/ops/outbox/counts": _get("Messages per channel and state", _array("Count")),
        "/api/ops/trigger": _post("Start a playbook by hand (a manual incident)",
                                  "TriggerBody", result, status="202",
                                  extra=NOT_FOUND),
    }


def _record(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "additionalProperties": True,
            "properties": properties}


S, INT, T = {"type": "string"}, {"type": "integer"}, {"type": ["string", "null"]}


def _schemas() -> dict[str, Any]:
    bodies = {m.__name__: m.model_json_schema(ref_template=REF)
              for m in (ApproveBody, PauseBody, ResumeBody, TriggerBody)}
    return {
        **bodies,
        "Error": _record(["error"], error=S),
        "Platform": _record(["platform", "state"], platform=S, state=S, since=T, reason=T),
        "Incident": _record(["id", "title", "state"], id=INT, key=S, kind=S, platform=T,
                            title=S, state=S, started_at=S, resolved_at=T),
        "Event": _record(["id", "at", "kind"], id=INT, at=S, kind=S, message=T,
                         public={"type": "boolean"}, actor=T),
        "IncidentDetail": {"allOf": [_ref("Incident"), _record(
            ["timeline"], timeline=_array("Event"))]},
        "Run": _record(["id", "incident_id", "playbook", "state"], id=INT, incident_id=INT,
                       playbook=S, state=S, started_at=S, finished_at=T),
        "RunDetail": {"allOf": [_ref("Run"), _record(["steps"], steps={
            "type": "array", "items": RECORD})]},
        "Approval": _record(["id", "playbook", "incident_id"], id=INT, playbook=S,
                            incident_id=INT, title=S, waiting_since=T, reason=T),
        "Post": _record(["id", "channel", "text", "state"], id=INT, channel=S, text=S,
                        state=S, publish_at=S, campaign=T),
        "OutboxRow": _record(["id", "channel", "state"], id=INT, channel=S, state=S,
                             recipient=T, attempts=INT, provider_id=T, last_error=T),
        "Count": _record(["channel", "state", "count"], channel=S, state=S, count=INT),
    }


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document (built once; callers must not mutate it)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Outage orchestrator ops API", "version": __version__},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": _schemas()},
        "security": BEARER,
        "paths": _paths(),
    }
