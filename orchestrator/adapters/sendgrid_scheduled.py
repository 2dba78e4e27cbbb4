"""SendGrid scheduled sends: a mail scheduled under a batch id, paused, canceled or resumed by it.

SendGrid cannot move a scheduled mail: resuming at the original time (or at once, when that
time has passed) lifts the batch's pause; resuming at another time cancels the batch and
schedules the same mail again under a new one. SendGrid accepts `send_at` at most 72 hours
ahead and discards paused sends after 72 hours, which bounds how long a pause can last.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from channels.base import Message
from channels.sendgrid_email import SendgridEmailConfig, build_payload
from orchestrator.adapters.base import ExternalError

DEFAULT_HOST = "https://api.sendgrid.com"


def build_mail(config: SendgridEmailConfig, text: str, detail: Mapping[str, Any],
               batch_id: str, send_at: datetime) -> dict[str, Any]:
    """The mail send body: one personalization per recipient, scheduled under `batch_id`."""
    recipients = list(detail.get("to") or ())
    if not recipients:
        raise ExternalError("a scheduled email needs recipients (detail 'to')")
    meta = {"batch_id": batch_id, "send_at": int(send_at.timestamp())}
    messages = [Message(idempotency_key=f"batch:{batch_id}:{address}", body=text,
                        recipient=address, subject=detail.get("subject"), metadata=meta)
                for address in recipients]
    return build_payload(config, messages)


class SendgridScheduledSends:
    """Scheduled sends of one SendGrid account, through the official sendgrid SDK."""

    kind: ClassVar[str] = "sendgrid_batch"

    def __init__(self, config: SendgridEmailConfig):
        from sendgrid import SendGridAPIClient

        self.config = config
        host = (config.base_url or DEFAULT_HOST).rstrip("/")
        self.sdk = SendGridAPIClient(api_key=config.api_key.get_secret_value(), host=host)

    def create(self, text: str, detail: Mapping[str, Any], send_at: datetime) -> str:
        """Schedule the mail under a new batch id; the batch id is the external ref."""
        batch = self._call(lambda: self.sdk.client.mail.batch.post())
        batch_id = batch["batch_id"]
        mail = build_mail(self.config, text, detail, batch_id, send_at)
        self._call(lambda: self.sdk.client.mail.send.post(request_body=mail))
        return batch_id

    def pause(self, ref: str, detail: Mapping[str, Any]) -> None:
        self._status(ref, "pause")

    def cancel(self, ref: str, detail: Mapping[str, Any]) -> None:
        self._status(ref, "cancel")

    def resume(self, ref: str, detail: Mapping[str, Any], *, text: str, original_at: datetime,
               send_at: datetime, now: datetime) -> tuple[str, datetime]:
        """Lift the pause (on time, or at once when due), else reschedule under a new batch."""
        if send_at == original_at or send_at <= now:
            self._call(lambda: self.sdk.client.user.scheduled_sends._(ref).delete())
            return ref, max(original_at, now) if send_at <= now else original_at
        self._status(ref, "cancel")
        return self.create(text, detail, send_at), send_at

    def _status(self, ref: str, status: str) -> None:
        from python_http_client.exceptions import BadRequestsError

        scheduled = self.sdk.client.user.scheduled_sends
        try:
            self._call(lambda: scheduled.post(request_body={"batch_id": ref, "status": status}),
                       reraise=(BadRequestsError,))
        except BadRequestsError:
            # The batch already has a status (paused before, say): update it instead.
            self._call(lambda: scheduled._(ref).patch(request_body={"status": status}))

    @staticmethod
    def _call(request: Any, reraise: tuple[type[Exception], ...] = ()) -> Any:
        from python_http_client.exceptions import HTTPError

        try:
            response = request()
        except reraise:
            raise
        except HTTPError as exc:
            raise ExternalError(f"sendgrid answered {exc.status_code}: {exc.body!r:.200}") from exc
        except OSError as exc:
            raise ExternalError(f"sendgrid unreachable: {exc}") from exc
        return response.to_dict if response.body else None
