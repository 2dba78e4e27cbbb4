"""Twilio Programmable Messaging (API 2010-04-01) as a sandbox: create, list, fetch, cancel."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from itertools import count
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.responses import Response

from orchestrator.sandbox.core import RecordedRequest
from orchestrator.sandbox.provider import ProviderApp, json_response, seconds_header
from orchestrator.sandbox.sms import (
    DELIVERY_ERRORS,
    num_segments,
    status_callback_params,
    twilio_error,
    twilio_signature,
)

log = logging.getLogger(__name__)

API = "/2010-04-01/Accounts/{AccountSid}"
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
# E.164, or a channel address such as whatsapp:+15551234567.
ADDRESS = re.compile(r"^(?:[a-z]+:)?\+[1-9]\d{6,14}$")

def rfc2822(moment: datetime | None) -> str | None:
    return format_datetime(moment) if moment else None


class TwilioSandbox(ProviderApp):
    """Messages as Twilio stores them; reads show sent messages as delivered.

    A message with a StatusCallback gets "sent" then its final status POSTed there,
    signed with X-Twilio-Signature (keyed by `auth_token`, else by the password the
    client authenticated with); each attempt is appended to `callbacks`.
    """

    name = "twilio"
    callback_delay = 0.05  # seconds between acceptance and each status callback

    def __init__(self, *args: Any, auth_token: str | None = None, **kwargs: Any) -> None:
        # None accepts any token; set it to test 401 handling.
        self.auth_token = auth_token
        self._tasks: set[asyncio.Task] = set()
        super().__init__(*args, **kwargs)

    def reset(self) -> None:
        with self.lock:
            self._messages: dict[str, dict[str, Any]] = {}
            self._seq = count()
            self.callbacks: list[dict[str, Any]] = []

    def routes(self):
        return [
            (API + "/Messages.json", ["POST"], self.create),
            (API + "/Messages.json", ["GET"], self.list),
            (API + "/Messages/{Sid}.json", ["GET"], self.fetch),
            (API + "/Messages/{Sid}.json", ["POST"], self.update),
            (API + "/Messages/{Sid}.json", ["DELETE"], self.delete),
        ]

    # -- what tests read ------------------------------------------------------------

    def messages(self, to: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """Every stored message as the API would render it now, oldest first."""
        with self.lock:
            stored = sorted(self._messages.values(), key=lambda m: m["_seq"])
            rendered = [self._render(m) for m in stored]
        return [m for m in rendered
                if (to is None or m["to"] == to) and (status is None or m["status"] == status)]

    # -- errors -----------------------------------------------------------------------

    def error(self, request: RecordedRequest, status: int, retry_after: float | None) -> Response:
        # Twilio sends no rate-limit headers of its own; add Retry-After only when the
        # script asked for one, so clients are tested on Twilio's real (bare) 429.
        headers = {"Retry-After": seconds_header(retry_after)} if retry_after is not None else {}
        code = {429: 20429, 500: 20500, 503: 20503, 401: 20003, 404: 20404}.get(status, 20000)
        return twilio_error(code, status, headers, path=request.path, to="")

    def not_found(self, request: RecordedRequest) -> Response:
        return twilio_error(20404, path=request.path)

    def _denied(self, request: RecordedRequest) -> Response | None:
        """401 unless Basic auth names this account (or an API key) with a token."""
        sid = request.path_params.get("AccountSid", "")
        if not ACCOUNT_SID.match(sid):
            return twilio_error(20404, path=request.path)
        user, password = _basic_credentials(request)
        if not password or not (user == sid or user.startswith("SK")):
            return twilio_error(20003)
        if self.auth_token is not None and password != self.auth_token:
            return twilio_error(20003)
        return None

    # -- endpoints --------------------------------------------------------------------

    async def create(self, request: RecordedRequest) -> Response:
        if denied := self._denied(request):
            return denied
        form = request.form
        problem = self._check_create(form)
        if problem:
            return problem
        now = datetime.now(UTC).replace(microsecond=0)
        schedule = self._schedule(form, now)
        if isinstance(schedule, Response):
            return schedule
        message = self._new_message(request.path_params["AccountSid"], form, now, schedule)
        message["_failure"] = self.harness.script.rejection(self.name, message["to"])
        with self.lock:
            self._messages[message["sid"]] = message
        if form.get("StatusCallback") and not schedule:
            self._callback_later(message, str(form["StatusCallback"]), request)
        # The create response shows the status at acceptance; later reads move on.
        return json_response(self._render(message, fresh=True), 201)

    def _callback_later(self, message: dict[str, Any], url: str, request: RecordedRequest) -> None:
        token = self.auth_token or _basic_credentials(request)[1]
        task = asyncio.get_running_loop().create_task(self._callbacks(message, url, token))
        self._tasks.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._tasks.discard)

    async def _callbacks(self, message: dict[str, Any], url: str, token: str) -> None:
        final = self._render(message)
        async with httpx.AsyncClient(timeout=5) as client:
            for status in ("sent", final["status"]):
                await self.harness.pause(self.callback_delay)
                if self.harness.closing.is_set():
                    return
                params = status_callback_params(final, status)
                headers = {"X-Twilio-Signature": twilio_signature(token, url, params),
                           "User-Agent": "TwilioProxy/1.1"}
                attempt: dict[str, Any] = {"url": url, "params": params, "headers": headers}
                try:
                    attempt["status"] = (await client.post(url, data=params,
                                                           headers=headers)).status_code
                except httpx.HTTPError as exc:
                    attempt["status"] = None
                    log.info("twilio sandbox: status callback to %s failed: %r", url, exc)
                with self.lock:
                    self.callbacks.append(attempt)

    def _check_create(self, form: dict[str, Any]) -> Response | None:
        to = _single(form.get("To"))
        if not to:
            return twilio_error(21604)
        if not ADDRESS.match(to):
            return twilio_error(21211, to=to)
        code = self.harness.script.rejection(self.name, to)
        if code and code not in DELIVERY_ERRORS:
            return twilio_error(code, to=to)
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return twilio_error(21603)
        body = _single(form.get("Body")) or ""
        if not body and not form.get("MediaUrl") and not form.get("ContentSid"):
            return twilio_error(21602)
        if len(body) > 1600:
            return twilio_error(21617)
        return None

    def _schedule(self, form: dict[str, Any], now: datetime) -> datetime | Response | None:
        if form.get("ScheduleType") != "fixed":
            return None
        if not form.get("MessagingServiceSid"):
            return twilio_error(35118)
        if not form.get("SendAt"):
            return twilio_error(35111)
        try:
            send_at = datetime.fromisoformat(str(form["SendAt"])).astimezone(UTC)
        except ValueError:
            return twilio_error(35114)
        # Twilio schedules between 15 minutes and 35 days ahead.
        if not now + timedelta(minutes=15) <= send_at <= now + timedelta(days=35):
            return twilio_error(35114)
        return send_at

    def _new_message(self, account: str, form: dict[str, Any], now: datetime,
                     send_at: datetime | None) -> dict[str, Any]:
        media = form.get("MediaUrl") or []
        media = [media] if isinstance(media, str) else media
        sid = ("MM" if media else "SM") + uuid.uuid4().hex
        body = _single(form.get("Body")) or ""
        service = _single(form.get("MessagingServiceSid"))
        if send_at:
            status = "scheduled"
        else:
            status = "accepted" if service and not form.get("From") else "queued"
        uri = f"/2010-04-01/Accounts/{account}/Messages/{sid}"
        return {
            "_seq": next(self._seq), "_initial": status, "_send_at": send_at,
            "_canceled": None, "_created": now, "_from": _single(form.get("From")),
            "account_sid": account, "api_version": "2010-04-01", "body": body,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "messaging_service_sid": service, "num_media": str(len(media)),
            "num_segments": str(num_segments(body)), "sid": sid,
            "to": _single(form.get("To")), "uri": uri + ".json",
            "subresource_uris": {"media": uri + "/Media.json", "feedback": uri + "/Feedback.json"},
        }

    def _render(self, message: dict[str, Any], fresh: bool = False) -> dict[str, Any]:
        """The message as the API shows it; unless `fresh`, sends have completed."""
        status, sent = message["_initial"], None
        if message["_canceled"]:
            status = "canceled"
        elif status == "scheduled":
            if message["_send_at"] <= datetime.now(UTC):
                status, sent = "delivered", message["_send_at"]
        elif not fresh:
            status, sent = "delivered", message["_created"]
        segments = int(message["num_segments"])
        out = {k: v for k, v in message.items() if not k.startswith("_")}
        if sent and message.get("_failure"):
            status, error = DELIVERY_ERRORS[message["_failure"]]
            out.update(error_code=message["_failure"], error_message=error)
        updated = message["_canceled"] or sent or message["_created"]
        # A Messaging Service picks the sender on sending: `from` stays null until then.
        sender = message["_from"] or ("+15005550006" if sent else None)
        out.update(
            status=status, date_created=rfc2822(message["_created"]), date_sent=rfc2822(sent),
            date_updated=rfc2822(updated), price=f"-{0.0079 * segments:.5f}" if sent else None,
            price_unit="USD", **{"from": sender},
        )
        return out

    async def list(self, request: RecordedRequest) -> Response:
        if denied := self._denied(request):
            return denied
        query = request.query
        try:
            size = min(max(int(query.get("PageSize", 50)), 1), 1000)
            page = max(int(query.get("Page", 0)), 0)
        except ValueError:
            return twilio_error(20001, 400)
        filters = {k: query[k] for k in ("To", "From", "DateSent", "DateSent<", "DateSent>")
                   if k in query}
        with self.lock:
            stored = sorted(self._messages.values(), key=lambda m: m["_seq"], reverse=True)
            # Reconciliation lists by To; skip rendering everyone else's messages.
            rendered = [self._render(m) for m in stored
                        if "To" not in filters or m["to"] == filters["To"]]
        try:
            matched = [m for m in rendered if _matches(m, filters)]
        except ValueError:
            return twilio_error(20001, 400)
        start = _page_start(matched, query.get("PageToken"), page, size)
        items = matched[start:start + size]

        def page_uri(number: int, token: str | None = None) -> str:
            params = {**filters, "PageSize": size, "Page": number}
            if token:
                params["PageToken"] = token
            return f"{request.path}?{urlencode(params)}"

        has_next = start + size < len(matched)
        return json_response({
            "end": start + len(items) - 1 if items else 0,
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1, "PA" + items[-1]["sid"]) if has_next else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "messages": items,
            "start": start,
            "uri": page_uri(page),
        })

    def _find(self, request: RecordedRequest) -> dict[str, Any] | Response:
        if denied := self._denied(request):
            return denied
        with self.lock:
            message = self._messages.get(request.path_params["Sid"])
        if message is None or message["account_sid"] != request.path_params["AccountSid"]:
            return twilio_error(20404, path=request.path)
        return message

    async def fetch(self, request: RecordedRequest) -> Response:
        message = self._find(request)
        if isinstance(message, Response):
            return message
        with self.lock:
            return json_response(self._render(message))

    async def update(self, request: RecordedRequest) -> Response:
        message = self._find(request)
        if isinstance(message, Response):
            return message
        form = request.form
        with self.lock:
            if form.get("Status") == "canceled":
                if self._render(message)["status"] != "scheduled":
                    return twilio_error(30409)
                message["_canceled"] = datetime.now(UTC).replace(microsecond=0)
            if form.get("Body") == "":
                message["body"] = ""  # redaction: the only body change Twilio allows
            return json_response(self._render(message))

    async def delete(self, request: RecordedRequest) -> Response:
        message = self._find(request)
        if isinstance(message, Response):
            return message
        with self.lock:
            self._messages.pop(message["sid"], None)
        return Response(status_code=204)


def _basic_credentials(request: RecordedRequest) -> tuple[str, str]:
    """(user, password) of a Basic Authorization header, or ("", "")."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return (user, password) if scheme.lower() == "basic" else ("", "")


def _single(value: Any) -> str | None:
    return value[-1] if isinstance(value, list) else value


def _when(value: str) -> datetime | date:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return date.fromisoformat(value)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _matches(message: dict[str, Any], filters: dict[str, str]) -> bool:
    if "To" in filters and message["to"] != filters["To"]:
        return False
    if "From" in filters and message["from"] != filters["From"]:
        return False
    dated = {k: _when(v) for k, v in filters.items() if k.startswith("DateSent")}
    if not dated:
        return True
    if message["date_sent"] is None:
        return False
    sent = parsedate_to_datetime(message["date_sent"])
    for key, bound in dated.items():
        # A bare date compares with the day the message was sent; a time, with the instant.
        value = sent if isinstance(bound, datetime) else sent.date()
        day = bound.date() if isinstance(bound, datetime) else bound
        if key == "DateSent" and sent.date() != day:
            return False
        # Twilio's "DateSent<" and "DateSent>" are inclusive: on or before, on or after.
        if (key == "DateSent<" and value > bound) or (key == "DateSent>" and value < bound):
            return False
    return True


def _page_start(matched: list[dict[str, Any]], token: str | None, page: int, size: int) -> int:
    """Where a page begins: after the token's message (stable while new messages arrive)."""
    if token and token.startswith("PA"):
        for index, message in enumerate(matched):
            if message["sid"] == token[2:]:
                return index + 1
    return page * size

