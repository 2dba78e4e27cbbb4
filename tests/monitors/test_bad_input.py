"""Bad input from the outside world becomes a failed Observation with a reason, never an exception.

One test per case of issue 3's "Bad input" list, each against a real local server (or a real
closed port / unresolvable name), with both client types fetch() accepts.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web
from pydantic import ValidationError

from orchestrator.monitors.http import HttpMonitor, HttpMonitorConfig
from orchestrator.monitors.statuspage import StatuspageConfig, StatuspageMonitor
from tests.monitors.webfixtures import bytes_handler, self_signed_context, spec_bytes

SUMMARY = spec_bytes("github_summary_operational_2019-12-30.json")


def statuspage(url: str, **extra) -> StatuspageMonitor:
    config = StatuspageConfig(name="gh", platform="github", kind="statuspage", url=url,
                              timeout="1s", **extra)
    return StatuspageMonitor(config)


def assert_failed(obs, *fragments: str) -> None:
    assert obs.ok is False
    assert obs.state == "unknown"
    for fragment in fragments:
        assert fragment in obs.reason, obs.reason
    assert obs.latency_ms is not None and obs.latency_ms >= 0


async def test_timeout(serve, any_client):
    async def hang(_request):
        await asyncio.sleep(5)
        return web.Response(body=SUMMARY)

    base = await serve({"/api/v2/summary.json": hang})
    obs = await statuspage(f"{base}/api/v2/summary.json").check(any_client)
    assert_failed(obs, "timed out after 1s")
    assert obs.latency_ms < 3000


async def test_slow_drip_body_is_bounded_by_the_same_timeout(serve, any_client):
    async def drip(request):
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(50):
            await response.write(b" ")
            await asyncio.sleep(0.1)
        return response

    base = await serve({"/api/v2/summary.json": drip})
    obs = await statuspage(f"{base}/api/v2/summary.json").check(any_client)
    assert_failed(obs, "timed out after 1s")


async def test_dns_failure(any_client):
    obs = await statuspage("http://status.nonexistent.invalid/api/v2/summary.json"
                           ).check(any_client)
    assert_failed(obs, "DNS lookup failed for status.nonexistent.invalid")


async def test_tls_error(serve, any_client, tmp_path):
    base = await serve({"/api/v2/summary.json": bytes_handler(SUMMARY)},
                       ssl_context=self_signed_context(tmp_path))
    obs = await statuspage(f"{base}/api/v2/summary.json").check(any_client)
    assert_failed(obs, "TLS error with 127.0.0.1", "certificate verify failed")


async def test_connection_refused(any_client):
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    obs = await statuspage(f"http://127.0.0.1:{port}/api/v2/summary.json").check(any_client)
    assert_failed(obs, f"connection refused by 127.0.0.1:{port}")


async def test_5xx(serve, any_client):
    base = await serve({"/api/v2/summary.json": bytes_handler(b"upstream busy", "text/plain",
                                                               status=503)})
    obs = await statuspage(f"{base}/api/v2/summary.json").check(any_client)
    assert_failed(obs, "HTTP 503 Service Unavailable from 127.0.0.1")


async def test_html_instead_of_json(serve, any_client):
    portal = b"<!DOCTYPE html><html><head><title>Hotel Wi-Fi login</title></head></html>"
    base = await serve({"/api/v2/summary.json": bytes_handler(portal, "text/html")})
    obs = await statuspage(f"{base}/api/v2/summary.json").check(any_client)
    assert_failed(obs, "expected JSON, got text/html: '<!DOCTYPE html><html><head>")


async def test_truncated_json(serve, any_client):
    base = await serve({"/api/v2/summary.json": bytes_handler(SUMMARY[:700])})
    obs = await statuspage(f"{base}/api/v2/summary.json").check(any_client)
    assert_failed(obs, "truncated JSON: the body ends at byte 700")


async def test_20_mb_body_is_not_read_past_the_cap(serve, any_client):
    sent = {"bytes": 0}

    async def huge(request):
        # Chunked, with no Content-Length, so only counting while reading can stop it.
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b"[" + b"0," * 32767 + b"0"
        try:
            while sent["bytes"] < 20 * 1024 * 1024:
                await response.write(chunk)
                sent["bytes"] += len(chunk)
        except (ConnectionResetError, ConnectionError):
            pass
        return response

    base = await serve({"/api/v2/summary.json": huge})
    obs = await statuspage(f"{base}/api/v2/summary.json").check(any_client)
    assert_failed(obs, "response body larger than 2 MiB; stopped reading")
    assert sent["bytes"] < 20 * 1024 * 1024


async def test_declared_20_mb_body_is_refused_before_reading(serve, any_client):
    async def declared(request):
        response = web.StreamResponse(headers={"Content-Type": "application/json",
                                               "Content-Length": str(20 * 1024 * 1024)})
        await response.prepare(request)
        await response.write(b"{}")
        return response

    base = await serve({"/api/v2/summary.json": declared})
    obs = await statuspage(f"{base}/api/v2/summary.json", max_bytes=4096).check(any_client)
    assert_failed(obs, "response body larger than 4096 bytes")


async def test_redirect_loop(serve, any_client):
    async def loop(request):
        hop = int(request.query.get("hop", "0"))
        raise web.HTTPFound(f"/api/v2/summary.json?hop={hop + 1}")

    base = await serve({"/api/v2/summary.json": loop})
    obs = await statuspage(f"{base}/api/v2/summary.json").check(any_client)
    assert_failed(obs, "too many redirects (more than 5)")


async def test_redirect_to_cloud_metadata_is_refused(serve, any_client):
    async def to_metadata(_request):
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

    base = await serve({"/status": to_metadata})
    config = HttpMonitorConfig(name="m", platform="p", kind="http", url=f"{base}/status",
                               timeout="1s")
    obs = await HttpMonitor(config).check(any_client)
    assert_failed(obs, "refused redirect to http://169.254.169.254/latest/meta-data/")


@pytest.mark.parametrize("url, message", [
    pytest.param("ftp://status.example.com/summary.json",
                 "URL scheme 'ftp' is not allowed: use http:// or https://", id="ftp"),
    pytest.param("file:///etc/passwd",
                 "URL scheme 'file' is not allowed", id="file"),
    pytest.param("http://169.254.169.254/latest/meta-data/",
                 "169.254.169.254 is a link-local, multicast or unspecified address", id="imds"),
    pytest.param("http://metadata.google.internal/computeMetadata/v1/",
                 "metadata.google.internal is a cloud metadata address", id="gce"),
])
def test_refused_urls_at_validation(url, message):
    with pytest.raises(ValidationError) as info:
        StatuspageConfig(name="gh", platform="github", kind="statuspage", url=url)
    assert message in str(info.value)


def test_private_addresses_allowed_when_asked():
    config = StatuspageConfig(name="gh", platform="github", kind="statuspage",
                              url="http://169.254.169.254/status.json", allow_private=True)
    assert config.url.startswith("http://169.254")
