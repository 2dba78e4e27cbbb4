"""Email through SendGrid's v3 mail send API, using the official `sendgrid` SDK."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import urllib.error
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import EmailStr, Field

from channels.base import Capabilities, ChannelConfig, Delivery, Message
from channels.http import raise_for_status
from orchestrator.errors import (
    AmbiguousDeliveryError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from orchestrator.models import HttpUrl, Secret

if TYPE_CHECKING:
    import httpx
    from sendgrid import SendGridAPIClient

MAX_PERSONALIZATIONS = 1000  # SendGrid's limit per mail send call
# A 400 names one bad recipient at a time; after this many resends the rest fail with it.
MAX_REFUSAL_ROUNDS = 4
_BLAMED = re.compile(r"^personalizations\.(\d+)\.")
DEFAULT_BASE_URL = "https://api.sendgrid.com"
PROVIDER = "sendgrid"


class SendgridEmailConfig(ChannelConfig):
    kind: Literal["sendgrid"]
    api_key: Secret
    from_: EmailStr = Field(alias="from")
    from_name: str | None = None
    reply_to: EmailStr | None = None
    asm_group_id: int | None = None
    categories: list[str] = Field(default=[], max_length=10)
    unsubscribe_url: HttpUrl | None = None
    unsubscribe_mailto: EmailStr | None = None
    template_id: str | None = None
    depends_on: list[str] = ["sendgrid"]


def _subject(message: Message) -> str:
    if message.subject:
        return message.subject
    first_line = message.body.strip().splitlines()[0] if message.body.strip() else "Update"
    return first_line if len(first_line) <= 78 else first_line[:77] + "…"


def list_unsubscribe(url: str | None, mailto: str | None) -> dict[str, str]:
    """RFC 2369 List-Unsubscribe, plus RFC 8058 one-click when there is an https URL."""
    targets = [f"<mailto:{mailto}>"] if mailto else []
    if url:
        targets.append(f"<{url}>")
    if not targets:
        return {}
    headers = {"List-Unsubscribe": ", ".join(targets)}
    if url:
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers


def group_key(config: SendgridEmailConfig, message: Message) -> tuple:
    """Messages with equal keys can share one API call (content is per call, not per person)."""
    meta = message.metadata
    content = None if config.template_id else (message.body, message.html)
    return (content, meta.get("batch_id"), meta.get("send_at"))


def plan_calls(config: SendgridEmailConfig, messages: Sequence[Message]) -> list[list[int]]:
    """Indices of `messages` per API call: grouped by shared content, at most 1,000 each."""
    groups: dict[tuple, list[int]] = {}
    for index, message in enumerate(messages):
        groups.setdefault(group_key(config, message), []).append(index)
    return [indices[start:start + MAX_PERSONALIZATIONS]
            for indices in groups.values()
            for start in range(0, len(indices), MAX_PERSONALIZATIONS)]


def _personalization(config: SendgridEmailConfig, message: Message) -> dict[str, Any]:
    if not message.recipient:
        raise ValueError("an email needs a recipient address")
    entry: dict[str, Any] = {"to": [{"email": message.recipient}]}
    if config.template_id:
        data = {"subject": _subject(message), "body": message.body}
        data.update(message.metadata.get("template_data", {}))
        entry["dynamic_template_data"] = data
    else:
        entry["subject"] = _subject(message)
    # A per-recipient unsubscribe link beats the list-wide one from the config.
    own = list_unsubscribe(message.metadata.get("unsubscribe_url"), config.unsubscribe_mailto)
    if message.metadata.get("unsubscribe_url"):
        entry["headers"] = own
    # Event webhooks echo custom_args back: how a bounce finds its outbox row.
    entry["custom_args"] = {"idempotency_key": message.idempotency_key}
    return entry


def build_payload(config: SendgridEmailConfig, messages: Sequence[Message]) -> dict[str, Any]:
    """The mail send request body for messages sharing one call (see `plan_calls`)."""
    if not 1 <= len(messages) <= MAX_PERSONALIZATIONS:
        raise ValueError(f"one call carries 1 to {MAX_PERSONALIZATIONS} messages, "
                         f"not {len(messages)}")
    if len({group_key(config, m) for m in messages}) != 1:
        raise ValueError("messages in one call must share body, html, batch_id and send_at")
    first = messages[0]
    sender: dict[str, str] = {"email": config.from_}
    if config.from_name:
        sender["name"] = config.from_name
    payload: dict[str, Any] = {
        "personalizations": [_personalization(config, m) for m in messages],
        "from": sender,
    }
    if config.reply_to:
        payload["reply_to"] = {"email": config.reply_to}
    if config.template_id:
        payload["template_id"] = config.template_id
    else:
        content = [{"type": "text/plain", "value": first.body}]
        if first.html:
            content.append({"type": "text/html", "value": first.html})
        payload["content"] = content
    if config.asm_group_id is not None:
        payload["asm"] = {"group_id": config.asm_group_id}
    headers = list_unsubscribe(config.unsubscribe_url, config.unsubscribe_mailto)
    if headers:
        payload["headers"] = headers
    if config.categories:
        payload["categories"] = list(config.categories)
    if first.metadata.get("batch_id"):
        payload["batch_id"] = first.metadata["batch_id"]
    if first.metadata.get("send_at") is not None:
        payload["send_at"] = int(first.metadata["send_at"])
    return payload


def refused_personalizations(status: int, body: bytes | str | None) -> set[int] | None:
    """Positions a 400 blames (`personalizations.3.to.0.email`), or None if any error is
    about the request as a whole."""
    if status != 400:
        return None
    try:
        errors = json.loads(body or b"")["errors"]
        fields = [str(error.get("field") or "") for error in errors]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    matches = [_BLAMED.match(field) for field in fields]
    if not matches or not all(matches):
        return None
    return {int(match.group(1)) for match in matches}


def classify(status: int, headers: Mapping[str, str], body: bytes | str) -> DeliveryError:
    """The DeliveryError for a non-2xx mail send answer (429 waits for X-RateLimit-Reset)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        raise_for_status(status, headers, text, PROVIDER)
    except DeliveryError as exc:
        return exc
    return PermanentDeliveryError(f"sendgrid answered {status}", status=status, body=text)


class SendgridEmailChannel:
    """Sends email in calls of up to 1,000 personalizations; outcome per message."""

    name: ClassVar[str] = "sendgrid"
    capabilities: ClassVar[Capabilities] = Capabilities(
        direct=True, address="email", subject=True, max_batch=MAX_PERSONALIZATIONS,
        default_rate=50.0)
    Config: ClassVar[type[ChannelConfig]] = SendgridEmailConfig

    def __init__(self, name: str, config: SendgridEmailConfig, *,
                 http: httpx.AsyncClient | None = None):
        # `http` is accepted for a uniform constructor; the SDK uses urllib.
        self.instance_name = name
        self.config = config
        self._client: SendGridAPIClient | None = None
        self._calls = asyncio.Semaphore(max(1, config.concurrency))

    def _sdk(self) -> SendGridAPIClient:
        if self._client is None:
            from sendgrid import SendGridAPIClient

            self._client = SendGridAPIClient(
                self.config.api_key.get_secret_value(),
                host=(self.config.base_url or DEFAULT_BASE_URL).rstrip("/"))
        return self._client

    def _post(self, payload: dict[str, Any]) -> tuple[Delivery | DeliveryError, set[int] | None]:
        """One blocking mail send call (run on a worker thread): the outcome, and for a 400
        the positions of the personalizations it blames."""
        from python_http_client.exceptions import HTTPError

        try:
            response = self._sdk().client.mail.send.post(
                request_body=payload, timeout=self.config.timeout.total_seconds())
        except HTTPError as exc:
            # The full body (the error keeps a truncated copy) names the refused recipients.
            return (classify(exc.status_code, dict(exc.headers or {}), exc.body),
                    refused_personalizations(exc.status_code, exc.body))
        except urllib.error.URLError as exc:
            # urllib wraps failures while connecting or writing the request in URLError.
            return TransientDeliveryError(f"sendgrid: request not sent ({exc.reason})"), None
        except (OSError, http.client.HTTPException) as exc:
            # Anything later happened while waiting for the answer: the mail may be queued.
            return AmbiguousDeliveryError(
                f"sendgrid: no answer after the request was sent ({type(exc).__name__})"), None
        return Delivery(provider_id=response.headers.get("X-Message-Id"), status="accepted",
                        detail={"recipients_in_call": len(payload["personalizations"])}), None

    async def _call(self, messages: list[Message]) -> list[Delivery | DeliveryError]:
        """Send one planned call; a 400 that blames some recipients is resent without them."""
        results: list[Delivery | DeliveryError | None] = [None] * len(messages)
        pending = list(range(len(messages)))
        for _ in range(MAX_REFUSAL_ROUNDS):
            try:
                payload = build_payload(self.config, [messages[i] for i in pending])
            except ValueError as exc:
                outcome = PermanentDeliveryError(f"sendgrid: cannot build the request: {exc}")
                break
            async with self._calls:
                # The SDK is synchronous (urllib); a thread keeps the event loop free.
                outcome, blamed = await asyncio.to_thread(self._post, payload)
            if not blamed or len(blamed) >= len(pending):
                break
            for position in sorted(blamed):
                index = pending[position]
                results[index] = PermanentDeliveryError(
                    f"sendgrid refused {messages[index].recipient}", status=400,
                    body=outcome.body)
            pending = [index for position, index in enumerate(pending) if position not in blamed]
        for index in pending:
            results[index] = outcome
        return results  # type: ignore[return-value]

    async def send_batch(self, messages: list[Message]) -> list[Delivery | DeliveryError]:
        """One API call per up to 1,000 messages sharing content; outcome per message."""
        calls = plan_calls(self.config, messages)
        outcomes = await asyncio.gather(*(self._call([messages[i] for i in c]) for c in calls))
        results: list[Delivery | DeliveryError | None] = [None] * len(messages)
        for indices, call_outcomes in zip(calls, outcomes, strict=True):
            for index, outcome in zip(indices, call_outcomes, strict=True):
                results[index] = outcome
        return results  # type: ignore[return-value]

    async def send(self, message: Message) -> Delivery:
        (outcome,) = await self.send_batch([message])
        if isinstance(outcome, DeliveryError):
            raise outcome
        return outcome

    async def aclose(self) -> None:
        self._client = None  # urllib opens a connection per call; nothing stays open
