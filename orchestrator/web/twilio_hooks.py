"""Twilio webhooks: inbound SMS (STOP/START/HELP/STATUS) and message status callbacks.

Both are validated with the SDK's RequestValidator against the URL Twilio was given (the
configured public URL plus this path), with the auth token of the account named in the
request's AccountSid. Anything that does not validate is a 403 and writes nothing.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import ImmutableMultiDict
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from orchestrator.web import queries
from orchestrator.web.inbound import count, web
from orchestrator.web.security import parse_form, read_body
from orchestrator.web.state import WebState
from orchestrator.web.writes import record_receipt, suppress, unsuppress

# Twilio's own opt-out, opt-in and help keywords (a reply that is exactly the word).
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO"}
FAILED_STATUSES = {"failed", "undelivered"}
OPTED_OUT = "21610"
MAX_SMS = 1600


def signed_url(state: WebState, request: Request) -> str | None:
    """The URL Twilio signed: the public base URL, this path and the query string."""
    public = state.config.http.public_url
    if not public:
        return None
    url = public.rstrip("/") + request.url.path
    return f"{url}?{request.url.query}" if request.url.query else url


async def validated_params(request: Request, route: str) -> ImmutableMultiDict:
    """The form parameters of a request Twilio really signed; 403 otherwise."""
    state = web(request)
    params = parse_form(await read_body(request, state.max_body_bytes))
    signature = request.headers.get("x-twilio-signature")
    token = state.twilio_tokens().get(params.get("AccountSid", ""))
    url = signed_url(state, request)
    if not signature or token is None or url is None \
            or not RequestValidator(token).validate(url, params, signature):
        count(request, route, "forbidden")
        raise HTTPException(403, "invalid Twilio signature")
    return params


def keyword(body: str) -> str:
    """The reply as a keyword: trimmed, upper case, without trailing punctuation."""
    return body.strip().rstrip(".!").strip().upper()


def status_text(state: WebState) -> str:
    with state.engine.connect() as conn:
        latest = queries.latest_public_update(conn, state.clock.now(), state.recent_days)
    link = state.config.http.public_url or ""
    if latest is None:
        text = f"{state.title}: no current incidents."
    else:
        text = f"{latest['title']} ({latest['at'][:16].replace('T', ' ')} UTC): {latest['message']}"
    return (text[:MAX_SMS - len(link) - 1] + " " + link).strip()


def help_text(state: WebState) -> str:
    link = state.config.http.public_url or ""
    return (f"{state.title}: reply STATUS for the latest update, STOP to opt out, "
            f"START to opt back in. {link}").strip()


def handle_inbound(state: WebState, params: ImmutableMultiDict) -> str | None:
    """Apply one inbound SMS; the reply text, if any."""
    word, sender = keyword(params.get("Body", "")), params.get("From", "")
    # With Advanced Opt-Out, Twilio names the keyword class itself (custom keywords too).
    opt = params.get("OptOutType", "").upper()
    now = state.clock.now()
    if (word in STOP_WORDS or opt == "STOP") and sender:
        suppress(state.engine, "sms", sender, f"replied {word or opt}", "twilio-inbound", now)
        return None  # Twilio sends the carrier-mandated confirmation itself
    if (word in START_WORDS or opt == "START") and sender:
        unsuppress(state.engine, "sms", sender, "twilio-inbound", now)
        return None
    if word in HELP_WORDS or opt == "HELP":
        return help_text(state)
    if word == "STATUS":
        return status_text(state)
    return None


async def inbound_sms(request: Request) -> Response:
    params = await validated_params(request, "twilio_inbound")
    reply = await run_in_threadpool(handle_inbound, web(request), params)
    twiml = MessagingResponse()
    if reply:
        twiml.message(reply)
    count(request, "twilio_inbound", "accepted")
    return Response(str(twiml), media_type="application/xml")


def handle_status(state: WebState, params: ImmutableMultiDict) -> None:
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    code = params.get("ErrorCode", "")
    if not sid or status not in FAILED_STATUSES | {"delivered"}:
        return  # intermediate states (queued, sending, sent) change nothing we keep
    failed = status in FAILED_STATUSES
    now = state.clock.now()
    record_receipt(state.engine, provider_id=sid, failed=failed,
                   error=f"twilio {status}" + (f" (error {code})" if code else ""), at=now)
    if failed and code == OPTED_OUT and params.get("To"):
        suppress(state.engine, "sms", params["To"], "opted out (Twilio 21610)",
                 "twilio-status", now)


async def status_callback(request: Request) -> Response:
    params = await validated_params(request, "twilio_status")
    await run_in_threadpool(handle_status, web(request), params)
    count(request, "twilio_status", "accepted")
    return Response(status_code=204)


routes = [
    Route("/hooks/twilio/inbound", inbound_sms, methods=["POST"]),
    Route("/hooks/twilio/status", status_callback, methods=["POST"]),
]
