"""fetch(): redirects, caps on decompressed size, JSON decoding reasons, both client types."""

from __future__ import annotations

import gzip

import pytest
from aiohttp import web

from orchestrator.monitors.fetch import BadResponse, FetchResult, decode_json, fetch


async def test_redirects_are_followed_relative_and_303_becomes_get(serve, any_client):
    seen = []

    async def start(request):
        seen.append(request.method)
        raise web.HTTPSeeOther("../done?x=1")

    async def done(request):
        seen.append(request.method)
        return web.json_response({"ok": True, "x": request.query["x"]})

    base = await serve({"/a/start": start, "/done": done})
    result = await fetch(any_client, f"{base}/a/start", method="POST", body=b"{}",
                         allow_private=True)
    assert (result.ok, result.status, result.url) == (True, 200, f"{base}/done?x=1")
    assert decode_json(result) == {"ok": True, "x": "1"}
    assert seen == ["POST", "GET"]


async def test_no_redirects_returns_the_3xx(serve, any_client):
    async def moved(_request):
        raise web.HTTPFound("/elsewhere")

    base = await serve({"/": moved})
    result = await fetch(any_client, f"{base}/", max_redirects=0)
    assert (result.ok, result.status, result.headers["location"]) == (True, 302, "/elsewhere")


async def test_a_gzip_bomb_is_capped_after_decompression(serve, any_client):
    bomb = gzip.compress(b"0" * (20 * 1024 * 1024))  # about 20 KB on the wire

    async def handler(_request):
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip",
                                                "Content-Type": "application/json"})

    base = await serve({"/": handler})
    result = await fetch(any_client, f"{base}/", max_bytes=1024 * 1024)
    assert result.error == "response body larger than 1 MiB; stopped reading"
    assert result.status == 200


async def test_redirect_without_location(serve, any_client):
    async def broken(_request):
        return web.Response(status=302)

    base = await serve({"/": broken})
    result = await fetch(any_client, f"{base}/")
    assert result.error == "HTTP 302 redirect without a Location header"


def result(body: bytes, content_type: str = "application/json") -> FetchResult:
    return FetchResult("http://x.example/", 200, {"content-type": content_type}, body)


@pytest.mark.parametrize("body, content_type, reason", [
    pytest.param(b"", "application/json", "expected JSON, got an empty body", id="empty"),
    pytest.param(b'{"a": 1,,}', "application/json",
                 "invalid JSON at line 1 column 9: Expecting property name enclosed in double "
                 "quotes", id="invalid"),
    pytest.param(b'{"a": [1, 2', "application/json",
                 "truncated JSON: the body ends at byte 11 in the middle of a value", id="cut"),
    pytest.param(b"\xff\xfe{}", "application/json", "body is not UTF-8 text (bad byte at 0)",
                 id="not-utf8"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, "application/json", "JSON nested too deeply",
                 id="deep"),
    pytest.param(b"Service Unavailable", "text/html",
                 "expected JSON, got text/html: 'Service Unavailable'", id="html-type"),
])
def test_decode_json_reasons(body, content_type, reason):
    with pytest.raises(BadResponse) as info:
        decode_json(result(body, content_type))
    assert str(info.value) == reason


def test_decode_json_accepts_a_bom():
    assert decode_json(result(b'\xef\xbb\xbf{"a": 1}')) == {"a": 1}


async def test_a_clients_own_shorter_timeout_is_a_reason_too(serve):
    import asyncio

    import httpx

    async def hang(_request):
        await asyncio.sleep(3)
        return web.Response(text="late")

    base = await serve({"/": hang})
    async with httpx.AsyncClient(timeout=0.3) as client:
        result = await fetch(client, f"{base}/", timeout=5)
    assert result.error == "timed out talking to 127.0.0.1"
