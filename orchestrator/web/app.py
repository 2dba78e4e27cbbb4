"""`create_app(state)`: the one Starlette app the daemon serves on its single port.

Routes: `/` `/api/v2/incidents.json` `/feed.atom` (public status page), `/hooks/...`
(inbound webhooks), `/api/ops/...` (ops API), `/ops` (dashboard), `/metrics`, `/healthz`,
`/readyz`, `/static/...`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.web import dashboard, inbound, ops, statuspage, twilio_hooks
from orchestrator.web.metrics import CONTENT_TYPE, Metrics
from orchestrator.web.state import WebState

log = logging.getLogger(__name__)

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    # No scripts at all; forms may only post back here.
    (b"content-security-policy", b"default-src 'none'; style-src 'self'; img-src 'self'; "
                                 b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
]


class SecurityHeaders:
    """Adds the headers above to every response (plain ASGI, so streaming is untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)
        await self.app(scope, receive, with_headers)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def _ping(state: WebState) -> None:
    with state.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


async def readyz(request: Request) -> Response:
    try:
        await run_in_threadpool(_ping, request.app.state.web)
    except Exception as exc:  # any database failure means "not ready", never a 500
        log.warning("readiness check failed: %s", exc)
        return PlainTextResponse("database unreachable", status_code=503)
    return PlainTextResponse("ready")


async def metrics(request: Request) -> Response:
    state: WebState = request.app.state.web
    try:
        body = await run_in_threadpool(state.metrics.render)
    except Exception as exc:  # the store gauges need the database; say so, do not crash
        log.warning("metrics scrape failed: %s", exc)
        return PlainTextResponse("metrics unavailable: database unreachable", status_code=503)
    return Response(body, media_type=CONTENT_TYPE)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if request.url.path.startswith(("/api/", "/hooks/")):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=headers)
    return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=headers)


def create_app(state: WebState) -> Starlette:
    """The app for `state`; creates `state.metrics` when the daemon did not pass one."""
    if state.metrics is None:
        state.metrics = Metrics()
    state.metrics.attach_store(state.engine, state.clock)
    static = StaticFiles(packages=[("orchestrator.web", "static")])
    routes = [
        *statuspage.routes, *inbound.routes, *twilio_hooks.routes, *ops.routes,
        *dashboard.routes,
        Route("/metrics", metrics, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Mount("/static", static, name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.state.web = state
    app.add_middleware(SecurityHeaders)
    return app


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM, SIGINT and SIGHUP
    and stops the server by setting `should_exit`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_server(app: Starlette, listen: str) -> EmbeddedServer:
    """A server for `app` on `listen` (config.http.listen, `host:port`, `[::1]:port`);
    `await server.serve()` runs it in the caller's event loop."""
    host, _, port = listen.rpartition(":")
    config = uvicorn.Config(
        app, host=host.strip("[]"), port=int(port), lifespan="off", ws="none",
        log_config=None, access_log=False, server_header=False,
        # X-Forwarded-For/-Proto are trusted only from a proxy on this machine, so
        # the dashboard cookie gets its Secure flag behind a local TLS terminator.
        proxy_headers=True, forwarded_allow_ips="127.0.0.1",
        timeout_graceful_shutdown=5)
    return EmbeddedServer(config)
