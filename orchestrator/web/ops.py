"""The ops API under /api/ops/: read incidents, runs, posts and the outbox; pause, resume,
approve and trigger. Every route but the OpenAPI document needs the bearer token.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orchestrator.playbook.runner import RunnerError
from orchestrator.web import queries
from orchestrator.web.inbound import web
from orchestrator.web.security import bearer, read_body, same_secret
from orchestrator.web.state import WebState, call_hook
from orchestrator.web.writes import approve_run

MAX_JSON = 64_000


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Selector(Body):
    """Which scheduled posts: any post matching one of the listed values."""

    channels: list[str] = []
    platforms: list[str] = []
    campaigns: list[str] = []
    tags: list[str] = []
    all: bool = Field(default=False, description="every post, whatever the lists say")
    by: str = Field(default="api", max_length=100, description="who asks (audit log)")

    @model_validator(mode="after")
    def _something(self):
        if not (self.all or self.channels or self.platforms or self.campaigns or self.tags):
            raise ValueError("name channels, platforms, campaigns or tags (or all: true)")
        return self

    def selector(self) -> dict[str, Any]:
        return self.model_dump(include={"channels", "platforms", "campaigns", "tags", "all"})


class PauseBody(Selector):
    reason: str = Field(min_length=1, max_length=500)


class ResumeBody(Selector):
    missed: Literal["publish_now", "next_slot", "skip", "hold"] = "next_slot"
    run_id: int | None = Field(default=None, description="only posts this run paused")


class ApproveBody(Body):
    by: str = Field(default="api", max_length=100)


class TriggerBody(Body):
    playbook: str = Field(min_length=1)
    platform: str | None = None
    vars: dict[str, str] = {}
    by: str = Field(default="api", max_length=100)


def authorize(request: Request) -> WebState:
    """The app state, when the request carries the configured bearer token; 401 otherwise."""
    state = web(request)
    expected = state.api_token()
    if expected is None:
        raise HTTPException(503, "the ops API is disabled: set http.token in the config")
    if not same_secret(bearer(request), expected):
        raise HTTPException(401, "missing or wrong bearer token",
                            headers={"WWW-Authenticate": 'Bearer realm="ops"'})
    return state


async def parse(request: Request, model: type[Body]) -> Any:
    raw = await read_body(request, MAX_JSON)
    try:
        return model.model_validate(json.loads(raw) if raw.strip() else {})
    except ValidationError as exc:
        raise HTTPException(422, "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
        )) from None
    except ValueError as exc:  # JSON syntax
        raise HTTPException(422, f"body is not JSON: {exc}") from None


def jsonable(value: Any) -> Any:
    """A hook's answer as JSON-ready data (dataclasses, pydantic models, plain values)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.loads(json.dumps(value, default=str))


def reader(fetch: Callable[..., Any], *params: str) -> Callable[..., Any]:
    """A GET handler running `fetch(conn, *query-or-path params)` in a thread."""
    async def handler(request: Request) -> JSONResponse:
        state = authorize(request)
        args = [request.path_params.get(p, request.query_params.get(p)) for p in params]
        if "limit" in params:
            try:
                args[-1] = int(args[-1]) if args[-1] else None
            except ValueError:
                raise HTTPException(422, "limit must be an integer") from None

        def run() -> Any:
            with state.engine.connect() as conn:
                return fetch(conn, *args)
        found = await run_in_threadpool(run)
        if found is None:
            raise HTTPException(404, "not found")
        return JSONResponse(found)
    return handler


async def approve(request: Request) -> JSONResponse:
    state = authorize(request)
    body = await parse(request, ApproveBody)
    return JSONResponse(await do_approve(state, request.path_params["run_id"], body.by))


async def do_approve(state: WebState, run_id: int, by: str) -> Any:
    """Approve through the runner when one is wired, else by releasing the step directly."""
    try:
        if state.runner is not None:
            result = await call_hook(state.runner.approve, run_id, by)
            # The runner answers the run's state after carrying on from the approval.
            return {"run_id": run_id, "approved_by": by, "state": jsonable(result)}
        return await run_in_threadpool(approve_run, state.engine, run_id, by, state.clock.now())
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except (ValueError, RunnerError) as exc:
        raise HTTPException(409, str(exc)) from None


async def _calendar(request: Request, model: type[Selector], action: str) -> JSONResponse:
    state = authorize(request)
    body = await parse(request, model)
    if state.calendar is None:
        raise HTTPException(503, "no content calendar is wired into this process")
    now = state.clock.now()
    if action == "pause":
        result = await call_hook(state.calendar.pause, body.selector(), reason=body.reason,
                                 by=body.by, run_id=None, now=now)
    else:
        result = await call_hook(state.calendar.resume, body.selector(), missed=body.missed,
                                 by=body.by, run_id=body.run_id, now=now)
    return JSONResponse({"result": jsonable(result)})


async def pause(request: Request) -> JSONResponse:
    return await _calendar(request, PauseBody, "pause")


async def resume(request: Request) -> JSONResponse:
    return await _calendar(request, ResumeBody, "resume")


async def trigger(request: Request) -> JSONResponse:
    state = authorize(request)
    body = await parse(request, TriggerBody)
    if state.runner is None:
        raise HTTPException(503, "no playbook runner is wired into this process")
    try:
        result = await call_hook(state.runner.trigger_manual, body.playbook,
                                 platform=body.platform, vars=body.vars, by=body.by)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except (ValueError, RunnerError) as exc:
        raise HTTPException(422, str(exc)) from None
    if isinstance(result, tuple) and len(result) == 2:  # Runner.trigger_manual's answer
        result = {"incident_id": result[0], "run_id": result[1]}
    return JSONResponse({"result": jsonable(result)}, status_code=202)


async def openapi(request: Request) -> JSONResponse:
    from orchestrator.web.openapi import document
    return JSONResponse(document())


routes = [
    Route("/api/ops/openapi.json", openapi, methods=["GET"]),
    Route("/api/ops/platforms", reader(queries.platforms), methods=["GET"]),
    Route("/api/ops/incidents", reader(queries.list_incidents, "state", "limit"),
          methods=["GET"]),
    Route("/api/ops/incidents/{incident_id:int}", reader(queries.incident, "incident_id"),
          methods=["GET"]),
    Route("/api/ops/runs", reader(queries.list_runs, "state", "limit"), methods=["GET"]),
    Route("/api/ops/runs/{run_id:int}", reader(queries.run, "run_id"), methods=["GET"]),
    Route("/api/ops/runs/{run_id:int}/approve", approve, methods=["POST"]),
    Route("/api/ops/approvals", reader(queries.pending_approvals), methods=["GET"]),
    Route("/api/ops/posts", reader(queries.list_posts, "state", "limit"), methods=["GET"]),
    Route("/api/ops/posts/pause", pause, methods=["POST"]),
    Route("/api/ops/posts/resume", resume, methods=["POST"]),
    Route("/api/ops/outbox", reader(queries.list_outbox, "state", "channel", "limit"),
          methods=["GET"]),
    Route("/api/ops/outbox/counts", reader(queries.outbox_counts), methods=["GET"]),
    Route("/api/ops/trigger", trigger, methods=["POST"]),
]
