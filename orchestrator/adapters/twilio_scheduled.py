"""Twilio scheduled messages: canceled on pause (Twilio cannot pause one), created again on resume.

Twilio schedules only through a Messaging Service, between 15 minutes and 35 days ahead. A
resume that lands sooner than 15 minutes from now is scheduled at now + 15 minutes; one that
is due sends at once. Each recreation is a new message with a new SID (the external ref).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from channels.twilio_sms import DEFAULT_BASE_URL, TwilioSmsConfig
from orchestrator.adapters.base import AlreadySent, ExternalError

MIN_LEAD = timedelta(minutes=15)
CANNOT_CANCEL = 30409  # "This message cannot be canceled": it has been sent


def create_arguments(config: TwilioSmsConfig, text: str, detail: Mapping[str, Any],
                     send_at: datetime | None) -> dict[str, Any]:
    """Keyword arguments for `messages.create`: scheduled at `send_at`, or sent now if None."""
    to = detail.get("to")
    if not to:
        raise ExternalError("a scheduled SMS needs a recipient (detail 'to')")
    if not config.messaging_service_sid:
        raise ExternalError("Twilio schedules messages only through a Messaging Service: set "
                            "messaging_service_sid on the channel")
    args: dict[str, Any] = {"to": to, "body": text,
                            "messaging_service_sid": config.messaging_service_sid}
    if send_at is not None:
        args.update(schedule_type="fixed", send_at=send_at)
    return args


def send_time(send_at: datetime, now: datetime) -> datetime | None:
    """When Twilio can send a message meant for `send_at`: None for "now"."""
    if send_at <= now:
        return None
    return max(send_at, now + MIN_LEAD)


class TwilioScheduledMessages:
    """Scheduled messages of one Twilio account, through the official twilio SDK."""

    kind: ClassVar[str] = "twilio_message"

    def __init__(self, config: TwilioSmsConfig):
        from twilio.rest import Client

        self.config = config
        # A non-empty environment keeps the SDK from reading TWILIO_EDGE/REGION and
        # rewriting the configured host.
        client = Client(config.account_sid.get_secret_value(),
                        config.auth_token.get_secret_value(),
                        environment={"TWILIO_CONFIGURED_BY": "orchestrator"})
        client.api.base_url = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.messages = client.api.v2010.accounts(config.account_sid.get_secret_value()).messages

    def create(self, text: str, detail: Mapping[str, Any], send_at: datetime) -> str:
        return self._create(text, detail, send_at)

    def pause(self, ref: str, detail: Mapping[str, Any]) -> None:
        self.cancel(ref, detail)

    def cancel(self, ref: str, detail: Mapping[str, Any]) -> None:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            self.messages(ref).update(status="canceled")
        except TwilioRestException as exc:
            if exc.code == CANNOT_CANCEL:
                raise AlreadySent(f"twilio already sent {ref}") from exc
            raise ExternalError(f"twilio refused to cancel {ref}: {exc.code} {exc.msg}") from exc
        except (TwilioException, OSError) as exc:
            raise ExternalError(f"twilio unreachable: {exc}") from exc

    def resume(self, ref: str, detail: Mapping[str, Any], *, text: str, original_at: datetime,
               send_at: datetime, now: datetime) -> tuple[str, datetime]:
        when = send_time(send_at, now)
        return self._create(text, detail, when), when or now

    def _create(self, text: str, detail: Mapping[str, Any], send_at: datetime | None) -> str:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            created = self.messages.create(**create_arguments(self.config, text, detail, send_at))
        except TwilioRestException as exc:
            raise ExternalError(f"twilio refused the message: {exc.code} {exc.msg}") from exc
        except (TwilioException, OSError) as exc:
            raise ExternalError(f"twilio unreachable: {exc}") from exc
        return created.sid
