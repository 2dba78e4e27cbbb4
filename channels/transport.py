"""Shared plumbing for channels that speak HTTP through httpx: client ownership, sending, errors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar
from urllib.parse import urlsplit

from channels.base import ChannelConfig, Delivery, Message, send_each
from channels.http import raise_for_status
from orchestrator import __version__
from orchestrator.errors import (
    AmbiguousDeliveryError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from orchestrator.lazy import httpx

USER_AGENT = f"outage-orchestrator/{__version__}"


def _not_sent() -> tuple[type[Exception], ...]:
    """Failures before any byte of the request left this machine: resending is safe."""
    return (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)


def _maybe_sent() -> tuple[type[Exception], ...]:
    """Failures after the request was (maybe wholly) written: the provider may have it."""
    return (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def join_url(base: str, path: str) -> str:
    """`base` (no trailing slash needed) followed by `path`, keeping any path prefix of `base`."""
    return base.rstrip("/") + "/" + path.lstrip("/")


def rebase(url: str, base_url: str | None) -> str:
    """Point a full provider URL (a webhook) at `base_url`, keeping its path and query."""
    if base_url is None:
        return url
    parts = urlsplit(url)
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    return join_url(base_url, tail)


def json_body(response: httpx.Response) -> Any:
    """The response's JSON, or None when the body is not JSON (an HTML error page, say)."""
    try:
        return response.json()
    except ValueError:
        return None


async def send_request(client: httpx.AsyncClient, request: httpx.Request, provider: str,
                       timeout: float) -> httpx.Response:
    """Send one request; raise a classified DeliveryError for a transport failure."""
    request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
    try:
        response = await client.send(request)
    except _not_sent() as exc:
        raise TransientDeliveryError(
            f"{provider}: could not connect ({type(exc).__name__}); nothing was sent") from exc
    except _maybe_sent() as exc:
        raise AmbiguousDeliveryError(
            f"{provider}: no answer after the request was sent ({type(exc).__name__}); "
            "it may have been accepted") from exc
    except httpx.UnsupportedProtocol as exc:
        raise PermanentDeliveryError(f"{provider}: unusable URL ({exc})") from exc
    except httpx.TransportError as exc:
        raise TransientDeliveryError(f"{provider}: {type(exc).__name__}") from exc
    return response


class HttpChannel:
    """Base of the httpx channels: owns its client unless given one, sends batches in turn."""

    provider: ClassVar[str] = "provider"

    def __init__(self, name: str, config: ChannelConfig, *, http: httpx.AsyncClient | None = None):
        self.instance_name = name   # the config key; the class's `name` is the kind
        self.config = config
        self._owns_http = http is None
        self.http = http if http is not None else httpx.AsyncClient(
            timeout=config.timeout.total_seconds(), headers={"User-Agent": USER_AGENT})

    async def send(self, message: Message) -> Delivery:
        raise NotImplementedError

    async def request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` with this channel's timeout and error classification."""
        request.headers.setdefault("User-Agent", USER_AGENT)
        response = await send_request(self.http, request, self.provider,
                                      self.config.timeout.total_seconds())
        self.raise_for_response(response)
        return response

    def raise_for_response(self, response: httpx.Response) -> None:
        """Raise the classified error for a refused request; providers with quirks override."""
        raise_for_status(response.status_code, response.headers, response.text, self.provider)

    async def send_batch(self, messages: Iterable[Message]) -> list[Delivery | DeliveryError]:
        """Send each message in turn; a failure is returned in its place, never raised."""
        return await send_each(self, messages)

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()


def check_length(body: str, limit: int | None, provider: str, unit: str = "characters",
                 length: int | None = None) -> None:
    """Refuse a body over the provider's limit before sending (the provider would refuse it too)."""
    length = len(body) if length is None else length
    if limit is not None and length > limit:
        raise PermanentDeliveryError(
            f"{provider}: message is {length} {unit}, over the limit of {limit}")
