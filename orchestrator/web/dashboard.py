"""The ops dashboard at /ops: platform states, open incidents, paused posts, approvals, outbox.

Signing in means pasting the ops API token once; the browser then holds a stateless,
HttpOnly, SameSite=Strict session cookie (see security.py) and every POST form carries the
session's CSRF token. There is no JavaScript: buttons are forms that redirect back.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from orchestrator.web import queries
from orchestrator.web.inbound import web
from orchestrator.web.ops import do_approve
from orchestrator.web.security import (
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    csrf_token,
    new_session,
    parse_form,
    read_body,
    same_secret,
    session_nonce,
)
from orchestrator.web.state import WebState
from orchestrator.web.templating import render

NO_STORE = {"Cache-Control": "no-store"}
FORM_LIMIT = 10_000
ACTOR = "dashboard"


def _nonce(request: Request) -> str | None:
    return session_nonce(request.cookies.get(SESSION_COOKIE), web(request).api_token(),
                         time.time())


def snapshot(state: WebState) -> dict[str, Any]:
    """Everything the page shows, read in one connection."""
    with state.engine.connect() as conn:
        incidents = []
        for row in queries.list_incidents(conn, "open", 50):
            incidents.append(queries.incident(conn, row["id"]))
        counts = queries.outbox_counts(conn)
        data = {"platforms": queries.platforms(conn), "incidents": incidents,
                "paused": queries.list_posts(conn, "paused", 200),
                "approvals": queries.pending_approvals(conn),
                "depth": queries.queue_depth(conn, state.clock.now())}
    table: dict[str, dict[str, int]] = defaultdict(dict)
    for row in counts:
        table[row["channel"]][row["state"]] = row["count"]
    data["outbox"] = dict(sorted(table.items()))
    data["outbox_states"] = sorted({row["state"] for row in counts})
    return data


def login_page(state: WebState, error: str | None = None, status: int = 200) -> HTMLResponse:
    html = render("login.html", title=f"{state.title} · ops", error=error,
                  enabled=state.api_token() is not None)
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


async def page(request: Request) -> Response:
    state, nonce = web(request), _nonce(request)
    if nonce is None:
        return login_page(state)
    data = await run_in_threadpool(snapshot, state)
    flash = request.query_params.get("flash")
    html = render("dashboard.html", title=f"{state.title} · ops", flash=flash,
                  csrf=csrf_token(state.api_token(), nonce), **data)
    return HTMLResponse(html, headers=NO_STORE)


async def login(request: Request) -> Response:
    state = web(request)
    form = parse_form(await read_body(request, FORM_LIMIT))
    key = state.api_token()
    if key is None or not same_secret(form.get("token"), key):
        return login_page(state, "That token is not the ops API token.", status=401)
    response = RedirectResponse("/ops", status_code=303, headers=NO_STORE)
    response.set_cookie(SESSION_COOKIE, new_session(key, time.time()), max_age=SESSION_MAX_AGE,
                        path="/ops", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


async def _checked_form(request: Request) -> Any:
    """The form of a POST from a signed-in page with the right CSRF token; 403 otherwise."""
    state, nonce = web(request), _nonce(request)
    form = parse_form(await read_body(request, FORM_LIMIT))
    if nonce is None or not same_secret(form.get("csrf"), csrf_token(state.api_token(), nonce)):
        raise HTTPException(403, "session expired or form forged: reload the dashboard")
    return form


async def logout(request: Request) -> Response:
    await _checked_form(request)
    response = RedirectResponse("/ops", status_code=303, headers=NO_STORE)
    response.delete_cookie(SESSION_COOKIE, path="/ops", httponly=True, samesite="strict")
    return response


async def approve(request: Request) -> Response:
    await _checked_form(request)
    run_id = request.path_params["run_id"]
    try:
        await do_approve(web(request), run_id, ACTOR)
        flash = f"Run {run_id} approved."
    except HTTPException as exc:
        flash = f"Run {run_id} not approved: {exc.detail}"
    return RedirectResponse("/ops?" + urlencode({"flash": flash}), status_code=303,
                            headers=NO_STORE)


routes = [
    Route("/ops", page, methods=["GET"], name="dashboard"),
    Route("/ops/login", login, methods=["POST"]),
    Route("/ops/logout", logout, methods=["POST"]),
    Route("/ops/runs/{run_id:int}/approve", approve, methods=["POST"]),
]
