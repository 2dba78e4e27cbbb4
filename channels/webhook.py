"""A JSON POST to any URL, signed with an HMAC-SHA256 header so the receiver can trust it.

Receivers check `X-Orchestrator-Signature: sha256=<hex>` over `<timestamp>.<raw body>`
with `X-Orchestrator-Timestamp`, and refuse stale timestamps so a captured request
cannot be replayed later; `verify_signature` does exactly that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import ValidationInfo, field_validator

from channels.base import Capabilities, ChannelConfig, Delivery, Message, send_each
from channels.http import raise_for_status
from orchestrator.errors import DeliveryError
from orchestrator.models import Secret, check_url

if TYPE_CHECKING:
    import httpx

SIGNATURE_HEADER = "X-Orchestrator-Signature"
TIMESTAMP_HEADER = "X-Orchestrator-Timestamp"
DEFAULT_TOLERANCE = 300.0  # seconds a signed request stays acceptable


class WebhookConfig(ChannelConfig):
    kind: Literal["webhook"]
    # Declared before `url` so the url validator can see it.
    allow_private: bool = False
    # Checked below rather than typed HttpUrl, so that allow_private is honoured.
    url: str
    secret: Secret | None = None
    headers: dict[str, str] = {}

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str, info: ValidationInfo) -> str:
        return check_url(value, allow_private=bool(info.data.get("allow_private")))


def build_payload(config: WebhookConfig, message: Message) -> dict[str, Any]:
    """The JSON document POSTed for `message`."""
    payload: dict[str, Any] = {"id": message.idempotency_key, "text": message.body}
    for key in ("subject", "html", "recipient", "reply_to"):
        value = getattr(message, key)
        if value is not None:
            payload[key] = value
    if message.metadata:
        payload["metadata"] = message.metadata
    return payload


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and sent (compact, key order kept)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, *,
                     tolerance: float = DEFAULT_TOLERANCE, now: float | None = None) -> bool:
    """True when `signature` is ours for this body and the timestamp is recent."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    if age > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def build_headers(config: WebhookConfig, message: Message, body: bytes,
                  now: float | None = None) -> dict[str, str]:
    """Request headers: the config's own, then content type, idempotency key, signature."""
    headers = dict(config.headers)
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = message.idempotency_key
    if config.secret is not None:
        timestamp = str(int(time.time() if now is None else now))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = sign(config.secret.get_secret_value(), timestamp, body)
    return headers


class WebhookChannel:
    """POSTs each message as signed JSON; the receiver's status decides the outcome."""

    name: ClassVar[str] = "webhook"
    capabilities: ClassVar[Capabilities] = Capabilities(broadcast=True, default_rate=5.0)
    Config: ClassVar[type[ChannelConfig]] = WebhookConfig

    def __init__(self, name: str, config: WebhookConfig, *,
                 http: httpx.AsyncClient | None = None):
        self.instance_name = name
        self.config = config
        self._own_client = http is None
        self._http = http

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx  # kept off the import path of `orchestrator validate`

            self._http = httpx.AsyncClient(timeout=self.config.timeout.total_seconds())
        return self._http

    async def send(self, message: Message) -> Delivery:
        import httpx

        from channels.transport import rebase, send_request  # both need httpx: load late

        body = encode(build_payload(self.config, message))
        request = httpx.Request("POST", rebase(self.config.url, self.config.base_url),
                                content=body, headers=build_headers(self.config, message, body))
        # Connection failures come back Transient, no answer after sending Ambiguous.
        response = await send_request(self._client(), request, "webhook",
                                      self.config.timeout.total_seconds())
        raise_for_status(response.status_code, response.headers, response.text, "webhook")
        return Delivery(provider_id=response.headers.get("x-request-id"), status="sent",
                        detail={"status": response.status_code})

    async def send_batch(self, messages: list[Message]) -> list[Delivery | DeliveryError]:
        """One POST per message, in order; outcome per message."""
        return await send_each(self, messages)

    async def aclose(self) -> None:
        if self._own_client and self._http is not None:
            await self._http.aclose()
            self._http = None
