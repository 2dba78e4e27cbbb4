"""Twilio's SMS vocabulary: segment arithmetic, error codes and status-callback signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from typing import Any

from starlette.responses import Response

from orchestrator.sandbox.provider import json_response

# The GSM 03.38 default alphabet; anything outside it (and its extension table, whose
# characters cost two septets) makes Twilio encode the whole body as UCS-2.
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")

ERRORS: dict[int, tuple[int, str]] = {
    20001: (400, "Invalid parameter"),
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource {path} was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    20503: (503, "Service Unavailable"),
    21211: (400, "Invalid 'To' Phone Number: {to}"),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21614: (400, "'To' number is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    30409: (400, "This message cannot be canceled"),
    35111: (400, "SendAt timestamp is missing"),
    35114: (400, "Scheduling does not support this timestamp"),
    35118: (400, "MessagingServiceSid is required to schedule a message"),
}

# Carrier-side failures: the API accepts the message (201), and the message then ends
# `failed` or `undelivered` with this code, as Twilio reports them.
DELIVERY_ERRORS: dict[int, tuple[str, str]] = {
    30001: ("failed", "Queue overflow"),
    30002: ("failed", "Account suspended"),
    30003: ("undelivered", "Unreachable destination handset"),
    30004: ("undelivered", "Message blocked"),
    30005: ("undelivered", "Unknown destination handset"),
    30006: ("undelivered", "Landline or unreachable carrier"),
    30007: ("undelivered", "Message filtered"),
    30008: ("undelivered", "Unknown error"),
}


def num_segments(body: str) -> int:
    """How many SMS segments Twilio bills for `body` (GSM-7: 160/153, UCS-2: 70/67)."""
    if all(ch in GSM7 or ch in GSM7_EXTENSION for ch in body):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2  # astral characters take two units
        single, multi = 70, 67
    return 1 if units <= single else math.ceil(units / multi)


def twilio_error(code: int, status: int | None = None, headers: dict[str, str] | None = None,
                 **fields: str) -> Response:
    default_status, message = ERRORS.get(code, (status or 400, "Error"))
    return json_response({
        "code": code,
        "message": message.format(**fields),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status or default_status,
    }, status or default_status, headers)


def status_callback_params(message: dict[str, Any], status: str) -> dict[str, str]:
    """The form Twilio POSTs to a StatusCallback URL when `message` reaches `status`."""
    params = {
        "AccountSid": message["account_sid"], "ApiVersion": "2010-04-01",
        "From": message["from"] or "", "MessageSid": message["sid"], "MessageStatus": status,
        "SmsSid": message["sid"], "SmsStatus": status, "To": message["to"],
    }
    if message["messaging_service_sid"]:
        params["MessagingServiceSid"] = message["messaging_service_sid"]
    if status == message["status"] and message["error_code"]:
        params["ErrorCode"] = str(message["error_code"])
    return params


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature: HMAC-SHA1 over the URL and the sorted POST parameters."""
    payload = url + "".join(key + params[key] for key in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
