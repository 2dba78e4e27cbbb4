"""Bounded HTTP fetch for monitors: one place that picks the transport and caps time, size and hops.

Every failure the outside world can cause (timeout, DNS, TLS, refused connection, redirect
loop, oversized body) comes back as `FetchResult.error`, a short human reason, never as an
exception. The transport is aiohttp (chosen by bench/monitor_transport.py); an
`httpx.AsyncClient` is accepted too, so callers that already hold one keep working.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from pydantic import Field

from orchestrator import __version__
from orchestrator.models import StrictModel, check_url
from orchestrator.monitors.fetch_errors import describe_error

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 2 * MIB
DEFAULT_MAX_REDIRECTS = 5
USER_AGENT = f"outage-orchestrator/{__version__} (+status monitor)"
_REDIRECTS = {301, 302, 303, 307, 308}


class FetchLimits(StrictModel):
    """Config keys for how much a poll may read and how many redirects it may follow."""

    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=1024, le=64 * MIB)
    max_redirects: int = Field(default=DEFAULT_MAX_REDIRECTS, ge=0, le=20)


@dataclass(frozen=True)
class FetchResult:
    """What one bounded request produced; `error` is set when it did not produce a response."""

    url: str
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    latency_ms: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Validators:
    """ETag / Last-Modified from the last full answer, sent back for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        sent = {"If-None-Match": self.etag, "If-Modified-Since": self.last_modified}
        return {k: v for k, v in sent.items() if v}

    def remember(self, result: FetchResult) -> None:
        self.etag = result.headers.get("etag") or None
        self.last_modified = result.headers.get("last-modified") or None

    def as_dict(self) -> dict[str, str | None]:
        return {"etag": self.etag, "last_modified": self.last_modified}

    @classmethod
    def from_dict(cls, data: Any) -> Validators:
        if not isinstance(data, Mapping):
            return cls()
        etag, modified = data.get("etag"), data.get("last_modified")
        return cls(etag if isinstance(etag, str) else None,
                   modified if isinstance(modified, str) else None)


class BadResponse(Exception):
    """A response a monitor cannot read; its message is the short reason for the Observation."""


def new_client(*, limit: int = 256):
    """The shared client the scheduler passes to every check (call inside a running loop)."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": USER_AGENT},
        # Our own asyncio.timeout bounds each fetch; the session's 5-minute default must not.
        timeout=aiohttp.ClientTimeout(total=None),
        raise_for_status=False,
    )


async def fetch(
    client: Any,
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    timeout: float = 10.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    allow_private: bool = False,
) -> FetchResult:
    """GET (or `method`) `url` within `timeout` seconds overall, following at most
    `max_redirects` redirects (each target re-checked like a configured URL) and reading at
    most `max_bytes` of body. With `max_redirects=0` a 3xx answer is returned as is."""
    send = _send_httpx if _is_httpx(client) else _send_aiohttp
    started = time.perf_counter()
    current, verb, payload = url, method.upper(), body
    status, resp_headers, data = None, {}, b""
    try:
        async with asyncio.timeout(timeout):
            for hop in range(max_redirects + 1):
                status, resp_headers, data = await send(
                    client, verb, current, dict(headers or {}), payload, max_bytes)
                if status not in _REDIRECTS or max_redirects == 0:
                    break
                if hop == max_redirects:
                    return _failed(current, started, f"too many redirects (more than "
                                   f"{max_redirects}), last to {current}", status)
                current, verb, payload = _next_hop(current, verb, payload, status,
                                                   resp_headers, allow_private)
    except TimeoutError:
        return _failed(current, started, f"timed out after {timeout:g}s", status)
    except _TooLarge as exc:
        return _failed(current, started, f"response body larger than {_size(max_bytes)}; "
                       "stopped reading", exc.status)
    except _Refused as exc:
        return _failed(current, started, str(exc), status)
    except Exception as exc:  # noqa: BLE001 - every transport error becomes a reason
        return _failed(current, started, describe_error(exc, current), status)
    latency = (time.perf_counter() - started) * 1000
    return FetchResult(current, status, resp_headers, data, latency)


def _failed(url: str, started: float, reason: str, status: int | None) -> FetchResult:
    return FetchResult(url, status, {}, b"", (time.perf_counter() - started) * 1000, reason)


class _TooLarge(Exception):
    def __init__(self, status: int):
        self.status = status  # the server did answer: canaries count that


class _Refused(Exception):
    pass


def _next_hop(url, verb, payload, status, headers, allow_private):
    location = headers.get("location")
    if not location:
        raise _Refused(f"HTTP {status} redirect without a Location header")
    target = urljoin(url, location)
    try:
        check_url(target, allow_private=allow_private)
    except ValueError as exc:
        raise _Refused(f"refused redirect to {target}: {exc}") from None
    # Browsers turn a redirected POST into a GET for 301/302/303; servers expect that.
    if status == 303 or (status in (301, 302) and verb == "POST"):
        return target, "GET", None
    return target, verb, payload


def _is_httpx(client: Any) -> bool:
    return type(client).__module__.startswith("httpx")


async def _send_aiohttp(session, verb, url, headers, payload, max_bytes):
    async with session.request(verb, url, headers=headers, data=payload,
                               allow_redirects=False) as resp:
        _check_length(resp.status, resp.headers.get("Content-Length"), max_bytes)
        chunks, size = [], 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise _TooLarge(resp.status)
            chunks.append(chunk)
        names = {k.lower(): v for k, v in resp.headers.items()}
        return resp.status, names, b"".join(chunks)


async def _send_httpx(client, verb, url, headers, payload, max_bytes):
    async with client.stream(verb, url, headers=headers, content=payload,
                             follow_redirects=False) as resp:
        _check_length(resp.status_code, resp.headers.get("content-length"), max_bytes)
        chunks, size = [], 0
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise _TooLarge(resp.status_code)
            chunks.append(chunk)
        names = {k.lower(): v for k, v in resp.headers.items()}
        return resp.status_code, names, b"".join(chunks)


def _check_length(status: int, value: str | None, max_bytes: int) -> None:
    if value and value.strip().isdigit() and int(value) > max_bytes:
        raise _TooLarge(status)


def _size(n: int) -> str:
    return f"{n / MIB:g} MiB" if n >= MIB else f"{n} bytes"


def expect_success(result: FetchResult) -> None:
    """Raise BadResponse unless the fetch got a 2xx answer (304 is handled by callers)."""
    if result.error:
        raise BadResponse(result.error)
    if result.status is None or not 200 <= result.status < 300:
        raise BadResponse(f"HTTP {result.status}{_phrase(result.status)} from "
                          f"{urlsplit(result.url).hostname}")


def _phrase(status: int | None) -> str:
    from http import HTTPStatus
    try:
        return f" {HTTPStatus(status).phrase}" if status else ""
    except ValueError:
        return ""


def decode_json(result: FetchResult) -> Any:
    """The body as JSON, or BadResponse saying why not (HTML, truncated, not UTF-8...)."""
    body = result.body
    text_start = body[:200].lstrip()
    ctype = result.headers.get("content-type", "").split(";")[0].strip().lower()
    if text_start.startswith(b"<") or ctype in ("text/html", "application/xhtml+xml"):
        raise BadResponse(f"expected JSON, got {ctype or 'markup'}: {_snippet(body)}")
    if not text_start:
        raise BadResponse("expected JSON, got an empty body")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadResponse(f"body is not UTF-8 text (bad byte at {exc.start})") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise BadResponse("JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        # An unterminated string, or an error at the very end, means the body was cut off.
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise BadResponse(f"truncated JSON: the body ends at byte {len(body)} "
                              "in the middle of a value") from None
        raise BadResponse(f"invalid JSON at line {exc.lineno} column {exc.colno}: "
                          f"{exc.msg}") from None


def _snippet(body: bytes, limit: int = 60) -> str:
    text = " ".join(body[:limit * 2].decode("utf-8", "replace").split())
    return repr(text[:limit] + ("..." if len(text) > limit else ""))
