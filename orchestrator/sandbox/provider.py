"""The base of every provider sandbox: record the request, apply the script, then answer."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from orchestrator.sandbox.core import Harness, Outcome, RecordedRequest

log = logging.getLogger(__name__)

Handler = Callable[[RecordedRequest], Awaitable[Response]]

DEFAULT_RETRY_AFTER = 1.0

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

MAINTENANCE_HTML = (
    "<!DOCTYPE html>\n<html><head><title>503 Service Temporarily Unavailable</title></head>\n"
    "<body><h1>We&rsquo;ll be right back</h1><p>Our site is down for maintenance.</p>"
    "</body></html>\n"
)


def relative_path(request: Request) -> str:
    """The path below the provider's mount point, as the provider's API docs write it."""
    path, root = request.scope["path"], request.scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root):] or "/"
    return path


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Compact UTF-8 JSON, as the real APIs send it."""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status, headers=headers, media_type="application/json")


def http_date(epoch: float | None = None) -> str:
    return formatdate(epoch if epoch is not None else time.time(), usegmt=True)


class ProviderApp:
    """A provider's ASGI app: subclasses list their routes and say how they format errors."""

    name: ClassVar[str] = "provider"

    def __init__(self, harness: Harness | None = None) -> None:
        self.harness = harness or Harness()
        # Provider state is written on the server thread and read by tests on theirs.
        self.lock = threading.RLock()
        self.reset()
        routes = [Route(path, self._endpoint(handler), methods=methods)
                  for path, methods, handler in self.routes()]
        # Unknown paths are recorded too: a client that builds a wrong URL should show
        # up in the recording, not vanish into Starlette's default 404.
        routes.append(Route("/{unmatched:path}", self._endpoint(self._unknown),
                            methods=ALL_METHODS))
        self.app = Starlette(routes=routes)

    # -- what subclasses provide -------------------------------------------------

    def routes(self) -> list[tuple[str, list[str], Handler]]:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget all provider state (messages, posts, batches)."""

    def error(self, request: RecordedRequest, status: int, retry_after: float | None) -> Response:
        """The provider's own error response for a scripted failure.

        `retry_after` is None when the script did not say; providers whose 429s always
        carry a reset time use DEFAULT_RETRY_AFTER then.
        """
        if retry_after is None and status == 429:
            retry_after = DEFAULT_RETRY_AFTER
        headers = {"Retry-After": seconds_header(retry_after)} if retry_after is not None else {}
        return json_response({"error": phrase(status)}, status, headers)

    def not_found(self, request: RecordedRequest) -> Response:
        return json_response({"error": "Not Found"}, 404)

    # -- the pipeline every request goes through -----------------------------------

    async def _unknown(self, request: RecordedRequest) -> Response:
        return self.not_found(request)

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            record = RecordedRequest(
                provider=self.name,
                method=request.method,
                path=relative_path(request),
                query=dict(request.query_params),
                query_items=list(request.query_params.multi_items()),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=await request.body(),
                at=time.time(),
                path_params=dict(request.path_params),
                base=f"{request.url.scheme}://{request.url.netloc}"
                     + request.scope.get("root_path", ""),
            )
            self.harness.recorder.add(record)
            outcome = self.harness.script.take(self.name, record.method, record.path)
            record.outcome = outcome.kind if outcome else None
            try:
                response = await self._respond(record, outcome, handler)
            except Exception:
                # The client sees a 500 like an outage; the log says the sandbox broke.
                log.exception("%s sandbox failed on %s %s", self.name, record.method, record.path)
                record.status = 500
                raise
            _note(record, response)
            return response

        return endpoint

    async def _respond(self, record: RecordedRequest, outcome: Outcome | None,
                       handler: Handler) -> Response:
        if outcome is None:
            return await handler(record)
        if outcome.kind == "slow":
            await self.harness.pause(outcome.seconds)
            return await handler(record)
        if outcome.kind == "fail":
            return self._scripted_failure(record, outcome)
        if outcome.kind == "html":
            return HTMLResponse(MAINTENANCE_HTML, outcome.status)
        response = await handler(record)
        if outcome.kind == "truncated":
            return _truncate(response)
        # accept_then_timeout: the work is done and recorded; only the answer is late.
        _note(record, response)
        await self.harness.pause(outcome.seconds)
        return response

    def _scripted_failure(self, record: RecordedRequest, outcome: Outcome) -> Response:
        if outcome.body is not None:
            response = Response(outcome.body, outcome.status)
        else:
            response = self.error(record, outcome.status, outcome.retry_after)
        for key, value in outcome.headers.items():
            response.headers[key] = value
        return response


def _note(record: RecordedRequest, response: Response) -> None:
    record.response_headers = {k.lower(): v for k, v in response.headers.items()}
    record.response_body = bytes(getattr(response, "body", b""))
    record.status = response.status_code


def _truncate(response: Response) -> Response:
    body = bytes(response.body)
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(body[: len(body) // 2], response.status_code, headers=headers)


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def seconds_header(value: float) -> str:
    """Retry-After is whole seconds; round up so a client never retries early."""
    whole = int(value)
    return str(whole if whole == value else whole + 1)


def bearer(request: RecordedRequest) -> str | None:
    """The token of an `Authorization: Bearer ...` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def iso_millis(epoch: float) -> str:
    """An ISO 8601 UTC time with milliseconds, as Mastodon and Statuspage write them."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
