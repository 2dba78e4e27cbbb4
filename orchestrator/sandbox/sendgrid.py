"""SendGrid v3 as a local sandbox: mail send, batch IDs and scheduled-send pause/cancel."""

from __future__ import annotations

import base64
import re
import secrets
import string
import time
import uuid
from typing import Any

from starlette.responses import Response

from orchestrator.sandbox.core import RecordedRequest
from orchestrator.sandbox.provider import DEFAULT_RETRY_AFTER, ProviderApp, json_response

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_PERSONALIZATIONS = 1000
HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"


def sendgrid_error(status: int, message: str, field: str | None = None, help_anchor: str = "",
                   headers: dict[str, str] | None = None) -> Response:
    # The live API sends `help` as a URL string or null (the spec says object; see
    # ../shared/specs/SOURCES.txt).
    link = HELP + help_anchor if help_anchor else None
    error = {"message": message, "field": field, "help": link}
    return json_response({"errors": [error]}, status, headers)


def _addresses(items: Any) -> list[str]:
    return [item.get("email", "") for item in items or [] if isinstance(item, dict)]


class SendGridSandbox(ProviderApp):
    """Accepted mails, batch IDs and scheduled-send states, as SendGrid keeps them."""

    name = "sendgrid"

    def __init__(self, *args: Any, api_key: str | None = None, **kwargs: Any) -> None:
        self.api_key = api_key  # None accepts any key
        super().__init__(*args, **kwargs)

    def reset(self) -> None:
        with self.lock:
            self.mails: list[dict[str, Any]] = []
            self.batches: set[str] = set()
            self.scheduled_sends: dict[str, str] = {}  # batch_id -> "pause" | "cancel"

    def routes(self):
        return [
            ("/v3/mail/send", ["POST"], self.send),
            ("/v3/mail/batch", ["POST"], self.create_batch),
            ("/v3/mail/batch/{batch_id}", ["GET"], self.get_batch),
            ("/v3/user/scheduled_sends", ["POST"], self.create_scheduled),
            ("/v3/user/scheduled_sends", ["GET"], self.list_scheduled),
            ("/v3/user/scheduled_sends/{batch_id}", ["GET"], self.get_scheduled),
            ("/v3/user/scheduled_sends/{batch_id}", ["PATCH"], self.update_scheduled),
            ("/v3/user/scheduled_sends/{batch_id}", ["DELETE"], self.delete_scheduled),
        ]

    def delivered(self, now: float | None = None) -> list[dict[str, Any]]:
        """The accepted mails that would have gone out by `now`: not scheduled later,
        and not in a batch whose scheduled send is paused or canceled."""
        now = time.time() if now is None else now
        with self.lock:
            return [mail for mail in self.mails
                    if (mail["send_at"] is None or mail["send_at"] <= now)
                    and self.scheduled_sends.get(mail["batch_id"]) is None]

    def recipients(self) -> list[str]:
        """Every to/cc/bcc address of every accepted mail, in order."""
        with self.lock:
            return [address for mail in self.mails for address in mail["recipients"]]

    def error(self, request: RecordedRequest, status: int, retry_after: float | None) -> Response:
        if status == 429:
            reset = int(time.time() + (retry_after or DEFAULT_RETRY_AFTER) + 0.999)
            headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0",
                       "X-RateLimit-Reset": str(reset)}
            return sendgrid_error(429, "too many requests", headers=headers)
        return sendgrid_error(status, "internal error" if status >= 500 else "error")

    def not_found(self, request: RecordedRequest) -> Response:
        return sendgrid_error(404, "not found")

    def _denied(self, request: RecordedRequest) -> Response | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            return sendgrid_error(401, "authorization required")
        if self.api_key is not None and key != self.api_key:
            return sendgrid_error(
                401, "The provided authorization grant is invalid, expired, or revoked")
        return None

    # -- mail send --------------------------------------------------------------------

    async def send(self, request: RecordedRequest) -> Response:
        if denied := self._denied(request):
            return denied
        mail = request.json
        if not isinstance(mail, dict):
            return sendgrid_error(400, "Bad Request", help_anchor="#-Request-Body-Parameters")
        problem = self._check_mail(mail)
        if problem:
            return problem
        message_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")[:22]
        recipients = [address for p in mail["personalizations"]
                      for key in ("to", "cc", "bcc") for address in _addresses(p.get(key))]
        with self.lock:
            self.mails.append({
                "message_id": message_id, "at": time.time(), "body": mail,
                "recipients": recipients, "batch_id": mail.get("batch_id"),
                "send_at": mail.get("send_at"),
            })
        return Response(status_code=202, headers={"X-Message-Id": message_id})

    def _check_mail(self, mail: dict[str, Any]) -> Response | None:
        people = mail.get("personalizations")
        if not isinstance(people, list) or not people:
            return sendgrid_error(
                400, "The personalizations field is required and must have at least one "
                "personalization.", "personalizations", "#-Personalizations-Errors")
        if len(people) > MAX_PERSONALIZATIONS:
            return sendgrid_error(
                400, f"The personalizations field is limited to {MAX_PERSONALIZATIONS} "
                f"personalizations per API request. You have provided {len(people)}.",
                "personalizations", "#-Personalizations-Errors")
        for index, person in enumerate(people):
            if problem := self._check_personalization(index, person):
                return problem
        if not isinstance(mail.get("from"), dict) or not EMAIL.match(mail["from"].get("email", "")):
            return sendgrid_error(
                400, "The from object must be provided for every email send. It is an object "
                "that requires the email parameter, but may also contain a name parameter.",
                "from.email", "#message.from")
        templated = bool(mail.get("template_id"))
        if not templated and not mail.get("subject") and not all(p.get("subject") for p in people):
            return sendgrid_error(
                400, "The subject is required. You can get around this requirement if you use a "
                "template with a subject defined or if every personalization has a subject "
                "defined.", "subject", "#message.subject")
        if not templated and not mail.get("content"):
            return sendgrid_error(
                400, "Unless a valid template_id is provided, the content parameter is required. "
                "There must be at least one defined content block.", "content",
                "#message.content")
        batch = mail.get("batch_id")
        if batch is not None and batch not in self.batches:
            return sendgrid_error(400, "The batch id is not valid.", "batch_id",
                                  "#message.batch_id")
        return None

    def _check_personalization(self, index: int, person: Any) -> Response | None:
        if not isinstance(person, dict) or not _addresses(person.get("to")):
            return sendgrid_error(
                400, "The to array is required for all personalization objects, and must have "
                "at least one email object with a valid email address.",
                f"personalizations.{index}.to", "#message.personalizations.to")
        for key in ("to", "cc", "bcc"):
            for number, address in enumerate(_addresses(person.get(key))):
                if not EMAIL.match(address):
                    return sendgrid_error(
                        400, "Does not contain a valid address.",
                        f"personalizations.{index}.{key}.{number}.email",
                        "#message.personalizations")
        return None

    # -- batches and scheduled sends --------------------------------------------------------

    async def create_batch(self, request: RecordedRequest) -> Response:
        if denied := self._denied(request):
            return denied
        alphabet = string.ascii_letters + string.digits
        batch_id = "".join(secrets.choice(alphabet) for _ in range(32))
        with self.lock:
            self.batches.add(batch_id)
        return json_response({"batch_id": batch_id}, 201)

    async def get_batch(self, request: RecordedRequest) -> Response:
        if denied := self._denied(request):
            return denied
        batch_id = request.path_params["batch_id"]
        if batch_id not in self.batches:
            return sendgrid_error(400, "invalid batch id")
        return json_response({"batch_id": batch_id})

    async def create_scheduled(self, request: RecordedRequest) -> Response:
        if denied := self._denied(request):
            return denied
        body = request.json if isinstance(request.json, dict) else {}
        batch_id, status = body.get("batch_id"), body.get("status")
        if status not in ("pause", "cancel"):
            return sendgrid_error(400, "status must be either pause or cancel", "status")
        with self.lock:
            if batch_id not in self.batches:
                return sendgrid_error(400, "invalid batch id", "batch_id")
            if batch_id in self.scheduled_sends:
                return sendgrid_error(
                    400, "a status for this batch id already exists, try updating it instead",
                    "batch_id")
            self.scheduled_sends[batch_id] = status
        return json_response({"batch_id": batch_id, "status": status}, 201)

    async def list_scheduled(self, request: RecordedRequest) -> Response:
        if denied := self._denied(request):
            return denied
        with self.lock:
            items = [{"batch_id": b, "status": s} for b, s in self.scheduled_sends.items()]
        return json_response(items)

    async def get_scheduled(self, request: RecordedRequest) -> Response:
        if denied := self._denied(request):
            return denied
        batch_id = request.path_params["batch_id"]
        with self.lock:
            status = self.scheduled_sends.get(batch_id)
        if status is None:
            return sendgrid_error(404, "batch id not found")
        return json_response([{"batch_id": batch_id, "status": status}])

    async def update_scheduled(self, request: RecordedRequest) -> Response:
        if denied := self._denied(request):
            return denied
        batch_id = request.path_params["batch_id"]
        status = (request.json or {}).get("status") if isinstance(request.json, dict) else None
        if status not in ("pause", "cancel"):
            return sendgrid_error(400, "status must be either pause or cancel", "status")
        with self.lock:
            if batch_id not in self.scheduled_sends:
                return sendgrid_error(404, "batch id not found")
            self.scheduled_sends[batch_id] = status
        return Response(status_code=204)

    async def delete_scheduled(self, request: RecordedRequest) -> Response:
        if denied := self._denied(request):
            return denied
        with self.lock:
            if self.scheduled_sends.pop(request.path_params["batch_id"], None) is None:
                return sendgrid_error(404, "batch id not found")
        return Response(status_code=204)
