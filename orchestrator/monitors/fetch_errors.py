"""Short human reasons for transport failures (DNS, TLS, refused...) from aiohttp or httpx."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit


def describe_error(exc: BaseException, url: str) -> str:
    """A short reason for a transport exception from aiohttp, httpx or the OS."""
    host = urlsplit(url).hostname or url
    chain = _chain(exc)
    names = " ".join(type(e).__name__ for e in chain)
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, ssl.SSLError | ssl.CertificateError) for e in chain) or \
            "ssl" in names.lower() or "certificate" in text:
        return f"TLS error with {host}: {_tls_detail(chain)}"
    if "DNSError" in names or "gaierror" in names or "name or service not known" in text \
            or "nodename nor servname" in text or "name resolution" in text:
        return f"DNS lookup failed for {host}"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in text:
        return f"connection refused by {_netloc(url)}"
    if "ServerDisconnected" in names or "RemoteProtocolError" in names or \
            "ClientPayloadError" in names or "ContentLength" in names:
        return f"{host} closed the connection before the response was complete"
    if "Timeout" in names:  # a client's own timeout (httpx's default is 5 s) came first
        return f"timed out talking to {host}"
    if "InvalidURL" in names or "UnsupportedProtocol" in names:
        return f"invalid URL {url}"
    return f"request to {host} failed: {type(exc).__name__}: {str(exc)[:120]}".rstrip(": ")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = current.__cause__ or current.__context__
        nested = getattr(seen[-1], "os_error", None) or getattr(seen[-1], "certificate_error",
                                                                None)
        if isinstance(nested, BaseException) and nested not in seen:
            seen.append(nested)
    return seen


def _tls_detail(chain: list[BaseException]) -> str:
    for exc in chain:
        if getattr(exc, "verify_message", None):
            return f"certificate verify failed: {exc.verify_message}"
        if getattr(exc, "reason", None):
            return str(exc.reason).lower().replace("_", " ")
    return str(chain[-1])[:120] or type(chain[-1]).__name__


def _netloc(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"
