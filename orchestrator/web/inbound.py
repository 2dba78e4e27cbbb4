"""Inbound webhooks that are not Twilio's: monitor pushes (token in the path) and SendGrid events.

A push whose token matches no push monitor is a 404 (the URL itself is the secret); a
SendGrid post without a valid ECDSA signature is a 403 and nothing is written.
"""

from __future__ import annotations

import binascii
import json
import logging
from functools import lru_cache
from typing import Any

from sendgrid.helpers.eventwebhook import EventWebhook
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orchestrator.web.security import read_body, same_secret
from orchestrator.web.state import WebState, call_hook
from orchestrator.web.writes import record_receipt, suppress

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
# SendGrid events that mean "never email this address again".
SUPPRESSING = {"bounce", "dropped", "spamreport", "unsubscribe", "group_unsubscribe"}
FAILING = {"bounce", "dropped"}


def web(request: Request) -> WebState:
    return request.app.state.web


def count(request: Request, route: str, outcome: str) -> None:
    metrics = web(request).metrics
    if metrics is not None:
        metrics.webhook(route, outcome)


def find_push_monitor(monitors: Any, token: str) -> Any:
    """The push monitor whose secret is `token`; every candidate is compared in full."""
    found = None
    for monitor in monitors:
        if same_secret(token, monitor.config.token.get_secret_value()) and found is None:
            found = monitor
    return found


async def push(request: Request) -> JSONResponse:
    """A Statuspage webhook or generic JSON push for the monitor owning the path's token."""
    state = web(request)
    monitor = find_push_monitor(state.push_monitors, request.path_params["token"])
    if monitor is None:
        count(request, "push", "unknown_token")
        raise HTTPException(404)
    body = await read_body(request, state.max_body_bytes)
    try:
        payload = json.loads(body)
    except ValueError:
        count(request, "push", "bad_body")
        raise HTTPException(400, "body is not JSON") from None
    observation = monitor.receive(payload, state.clock.now())
    answer = {"monitor": observation.monitor, "platform": observation.platform,
              "ok": observation.ok, "state": observation.state, "reason": observation.reason}
    if not observation.ok:
        count(request, "push", "unusable")
        return JSONResponse(answer, status_code=422)
    if state.on_push is not None:
        await call_hook(state.on_push, observation)
    count(request, "push", "accepted")
    return JSONResponse(answer, status_code=202)


@lru_cache(maxsize=8)
def _verifier(key: str) -> EventWebhook:
    return EventWebhook(key)


def sendgrid_signature_ok(key: str | None, body: bytes, signature: str | None,
                          timestamp: str | None) -> bool:
    """Whether SendGrid signed `timestamp + body` with the private half of `key`."""
    if not key or not signature or not timestamp:
        return False
    try:
        verifier = _verifier(key)
        return bool(verifier.verify_signature(body.decode("utf-8"), signature, timestamp))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        # A malformed signature or body; a bad configured key also lands here, loudly.
        log.warning("SendGrid event webhook refused: %s", exc)
        return False


def apply_sendgrid_events(state: WebState, events: list[Any]) -> dict[str, int]:
    """Turn bounces, drops, spam reports and unsubscribes into suppressions and receipts."""
    now = state.clock.now()
    counts = {"events": len(events), "suppressed": 0, "receipts": 0}
    for event in events:
        if not isinstance(event, dict) or not isinstance(event.get("email"), str):
            continue
        kind, email = event.get("event"), event["email"].strip()
        reason = str(event.get("reason") or event.get("type") or kind)
        # A "blocked" bounce is the receiving server refusing for now, not a dead address.
        blocked = kind == "bounce" and event.get("type") == "blocked"
        permanent = kind in SUPPRESSING and not blocked
        if permanent and suppress(state.engine, "email", email, f"sendgrid {kind}: {reason}",
                                  "sendgrid-events", now):
            counts["suppressed"] += 1
        key = event.get("idempotency_key")
        if kind in FAILING or kind == "delivered":
            row = record_receipt(state.engine, idempotency_key=key if isinstance(key, str)
                                 else None, failed=kind in FAILING,
                                 error=f"sendgrid {kind}: {reason}", at=now)
            counts["receipts"] += row is not None
    return counts


async def sendgrid_events(request: Request) -> JSONResponse:
    state = web(request)
    body = await read_body(request, state.max_body_bytes)
    if not sendgrid_signature_ok(state.sendgrid_key(), body, request.headers.get(
            SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER)):
        count(request, "sendgrid", "forbidden")
        raise HTTPException(403, "invalid SendGrid event webhook signature")
    try:
        events = json.loads(body)
    except ValueError:
        events = None
    if not isinstance(events, list):
        count(request, "sendgrid", "bad_body")
        raise HTTPException(400, "expected a JSON array of events")
    result = await run_in_threadpool(apply_sendgrid_events, state, events)
    count(request, "sendgrid", "accepted")
    return JSONResponse(result)


routes = [
    Route("/hooks/push/{token}", push, methods=["POST"]),
    Route("/hooks/sendgrid/events", sendgrid_events, methods=["POST"]),
]
