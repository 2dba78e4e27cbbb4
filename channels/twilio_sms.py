"""SMS through Twilio's Messages API, using the official `twilio` SDK's async client."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from functools import cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from channels.base import Capabilities, ChannelConfig, Delivery, Message
from channels.http import retry_after
from orchestrator.errors import (
    AmbiguousDeliveryError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from orchestrator.models import HttpUrl, Secret

if TYPE_CHECKING:
    import httpx
    from twilio.rest import Client

log = logging.getLogger(__name__)

MAX_BODY = 1600
DEFAULT_BASE_URL = "https://api.twilio.com"
PROVIDER = "twilio"

# GSM 03.38: the basic set costs one septet, the extension set two (escape + char).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXTENDED = set("^{}\\[~]|€\f")

# Twilio error codes with a meaning of their own (https://www.twilio.com/docs/api/errors).
INVALID_NUMBER = 21211
OPTED_OUT = 21610
TOO_MANY_REQUESTS = 20429

# Response headers of the latest Twilio answer in this task. The SDK builds its
# TwilioRestException from the response but drops the headers, and Retry-After lives
# there; a ContextVar keeps concurrent sends (one task each) from seeing each other's.
_last_headers: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "twilio_last_headers", default=None)


class TwilioSmsConfig(ChannelConfig):
    kind: Literal["twilio"]
    account_sid: Secret  # not secret, but account-specific: kept out of the file the same way
    auth_token: Secret
    from_: str | None = Field(default=None, alias="from", pattern=r"^\+[1-9]\d{6,14}$")
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    status_callback: HttpUrl | None = None
    depends_on: list[str] = ["twilio"]

    @field_validator("account_sid")
    @classmethod
    def _sid_shape(cls, value: SecretStr) -> SecretStr:
        sid = value.get_secret_value()
        if sid and not re.fullmatch(r"AC[0-9a-fA-F]{32}", sid):
            raise ValueError("an account SID is 'AC' followed by 32 hex digits")
        return value

    @model_validator(mode="after")
    def _one_sender(self):
        if (self.from_ is None) == (self.messaging_service_sid is None):
            raise ValueError("give exactly one of 'from' (an E.164 number) "
                             "or 'messaging_service_sid'")
        return self


def count_segments(body: str) -> int:
    """How many SMS segments `body` costs: GSM-7 when it fits that alphabet, else UCS-2."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in body):
        units = sum(2 if ch in _GSM_EXTENDED else 1 for ch in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2  # UCS-2 counts UTF-16 code units
        single, multi = 70, 67
    if units <= single:
        return 1
    return -(-units // multi)


def build_payload(config: TwilioSmsConfig, message: Message) -> dict[str, Any]:
    """The keyword arguments for `messages.create_async` that send `message`."""
    if not message.recipient:
        raise ValueError("an SMS needs a recipient phone number")
    payload: dict[str, Any] = {"to": message.recipient, "body": message.body}
    if config.messaging_service_sid:
        payload["messaging_service_sid"] = config.messaging_service_sid
    else:
        payload["from_"] = config.from_
    if config.status_callback:
        payload["status_callback"] = config.status_callback
    return payload


def classify(exc: Exception, headers: Mapping[str, str] | None = None) -> DeliveryError:
    """Map a TwilioRestException (or TwilioServiceException) to our error tree."""
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    text = str(getattr(exc, "msg", None) or getattr(exc, "detail", None) or exc)
    kw = {"status": status, "code": code, "body": text}
    if status == 429 or code == TOO_MANY_REQUESTS:
        return TransientDeliveryError("twilio rate limited the request (safe to retry)",
                                      retry_after=retry_after(headers or {}), **kw)
    if code == OPTED_OUT:
        return PermanentDeliveryError("twilio: the recipient replied STOP (21610)",
                                      suppress=True, **kw)
    if code == INVALID_NUMBER:
        return PermanentDeliveryError("twilio: invalid 'To' phone number (21211)", **kw)
    if isinstance(status, int) and status >= 500:
        return TransientDeliveryError(f"twilio answered {status}",
                                      retry_after=retry_after(headers or {}), **kw)
    return PermanentDeliveryError(f"twilio refused the message ({status}, code {code})", **kw)


def _transport_error(exc: BaseException, method: str, sent: bool) -> DeliveryError:
    what = f"{type(exc).__name__}: {exc}"
    if sent and method == "POST":
        # The request left: Twilio may have created the message. Reconcile, never resend.
        return AmbiguousDeliveryError(f"twilio: no answer after the request was sent ({what})")
    return TransientDeliveryError(f"twilio: request not completed ({what})")


# Whether the request of the current send left this process (see `_http_client_class`).
_request_state: contextvars.ContextVar[SimpleNamespace | None] = contextvars.ContextVar(
    "twilio_request_state", default=None)


@cache
def _http_client_class() -> type:
    """The SDK's aiohttp client, taught to tell "never sent" from "sent, no answer"."""
    import aiohttp
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.http.response import Response

    class MarkingRequest(aiohttp.ClientRequest):
        # Called once a connection is ready, just before the first byte is written: from
        # here on Twilio may have the message. (aiohttp's request tracing tells the same
        # but costs a twentieth of a send, paid on every message.)
        async def send(self, conn):
            state = _request_state.get()
            if state is not None:
                state.sent = True
            return await super().send(conn)

    class TrackingHttpClient(AsyncTwilioHttpClient):
        def __init__(self, timeout: float):
            super().__init__(pool_connections=False, timeout=timeout)
            self.session = aiohttp.ClientSession(request_class=MarkingRequest)
            self._timeout = aiohttp.ClientTimeout(total=timeout)
            self._auth: tuple[tuple[str, str], str] | None = None

        def _authorization(self, auth: tuple[str, str]) -> str:
            if self._auth is None or self._auth[0] != auth:
                # aiohttp 3.14 deprecates BasicAuth objects (the SDK's own client uses them).
                self._auth = (auth, aiohttp.encode_basic_auth(*auth))
            return self._auth[1]

        async def request(self, method, url, params=None, data=None, headers=None,
                          auth=None, timeout=None, allow_redirects=False):
            state = SimpleNamespace(sent=False)
            headers = dict(headers or {})
            if auth:
                headers["Authorization"] = self._authorization(tuple(auth))
            kwargs = {"method": method.upper(), "url": url, "params": params, "data": data,
                      "headers": headers, "allow_redirects": allow_redirects}
            # Not the SDK's log_request: it logs every request at INFO, phone numbers and all.
            log.debug("twilio %s %s", kwargs["method"], url)
            limit = self._timeout if timeout is None else aiohttp.ClientTimeout(total=timeout)
            marked = _request_state.set(state)
            try:
                async with self.session.request(**kwargs, timeout=limit) as response:
                    text = await response.text()
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise _transport_error(exc, kwargs["method"], state.sent) from exc
            finally:
                _request_state.reset(marked)
            _last_headers.set(response.headers)  # a read-only view: nothing to copy
            return Response(response.status, text, response.headers)

    return TrackingHttpClient


class TwilioSmsChannel:
    """Sends one SMS per message; `reconcile` finds out what happened to an ambiguous one."""

    name: ClassVar[str] = "twilio"
    capabilities: ClassVar[Capabilities] = Capabilities(
        direct=True, address="phone", max_length=MAX_BODY, default_rate=10.0)
    Config: ClassVar[type[ChannelConfig]] = TwilioSmsConfig

    def __init__(self, name: str, config: TwilioSmsConfig, *,
                 http: httpx.AsyncClient | None = None):
        # `http` is accepted for a uniform constructor; the SDK brings its own aiohttp client.
        self.instance_name = name
        self.config = config
        self._client: Client | None = None
        self._message_list: Any = None

    def _sdk(self) -> Client:
        # Built on first use, inside the event loop: aiohttp sessions belong to a loop.
        if self._client is None:
            from twilio.rest import Client

            cfg = self.config
            self._client = Client(
                cfg.account_sid.get_secret_value(), cfg.auth_token.get_secret_value(),
                http_client=_http_client_class()(cfg.timeout.total_seconds()),
                # A non-empty mapping stops the SDK reading TWILIO_EDGE/REGION from
                # os.environ, which would rewrite our configured host.
                environment={"TWILIO_CONFIGURED_BY": "orchestrator"})
            self._client.api.base_url = (cfg.base_url or DEFAULT_BASE_URL).rstrip("/")
        return self._client

    def _messages(self):
        # The SDK builds this chain of resource objects per call; at thousands of sends a
        # second that is a fifth of each send's cost, so it is kept with the client.
        if self._message_list is None or self._client is None:
            account = self.config.account_sid.get_secret_value()
            self._message_list = self._sdk().api.v2010.accounts(account).messages
        return self._message_list

    async def send(self, message: Message) -> Delivery:
        if len(message.body) > MAX_BODY:
            raise PermanentDeliveryError(
                f"SMS body is {len(message.body)} characters; Twilio takes at most {MAX_BODY}")
        from twilio.base.exceptions import (
            TwilioException,
            TwilioRestException,
            TwilioServiceException,
        )

        try:
            created = await self._messages().create_async(**build_payload(self.config, message))
        except (TwilioRestException, TwilioServiceException) as exc:
            raise classify(exc, _last_headers.get()) from exc
        except (TwilioException, ValueError) as exc:
            # A 2xx we cannot read (cut-off JSON, an HTML page): the message may exist.
            raise AmbiguousDeliveryError(f"twilio: unreadable answer ({exc!r:.200})") from exc
        return _delivery(created, message)

    async def send_batch(self, messages: list[Message]) -> list[Delivery | DeliveryError]:
        """One API call per message (Twilio has no batch send); outcome per message."""
        async def one(message: Message) -> Delivery | DeliveryError:
            try:
                return await self.send(message)
            except DeliveryError as exc:
                return exc

        sem = asyncio.Semaphore(max(1, self.config.concurrency))

        async def bounded(message: Message) -> Delivery | DeliveryError:
            async with sem:
                return await one(message)

        return list(await asyncio.gather(*(bounded(m) for m in messages)))

    async def reconcile(self, message: Message, *, since: date | None = None
                        ) -> Delivery | None:
        """The Delivery of `message` if Twilio has it, None if it provably does not.

        Lists messages to the recipient sent on or after `since` (default: yesterday,
        UTC, so a send just before midnight is still found) and matches the body.
        Raises TransientDeliveryError when Twilio cannot be asked right now.
        """
        from twilio.base.exceptions import TwilioException

        day = since or (datetime.now(UTC) - timedelta(days=1)).date()
        # Midnight UTC of that day: the OpenAPI document types DateSent> as a date-time.
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        try:
            found = await self._messages().list_async(
                to=message.recipient, date_sent_after=start, page_size=100)
        except (TwilioException, ValueError) as exc:
            status = getattr(exc, "status", None)
            raise TransientDeliveryError(f"twilio: cannot reconcile ({exc!r:.200})",
                                         status=status) from exc
        except DeliveryError as exc:
            raise TransientDeliveryError(f"twilio: cannot reconcile ({exc})") from exc
        for item in found:
            if item.body == message.body and self._same_sender(item):
                return _delivery(item, message, reconciled=True)
        return None

    def _same_sender(self, item: Any) -> bool:
        if self.config.messaging_service_sid:
            return item.messaging_service_sid == self.config.messaging_service_sid
        return item.from_ == self.config.from_

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.http_client.close()
            self._client = self._message_list = None


def _delivery(item: Any, message: Message, *, reconciled: bool = False) -> Delivery:
    try:
        segments = int(item.num_segments)
    except (TypeError, ValueError):
        segments = 0
    # With a Messaging Service Twilio reports 0 until a sender is chosen; count ourselves.
    detail: dict[str, Any] = {"num_segments": segments or count_segments(message.body)}
    if reconciled:
        detail["reconciled"] = True
    return Delivery(provider_id=item.sid, status=str(item.status or "queued"), detail=detail)
