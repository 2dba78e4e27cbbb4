"""Canaries: when every one fails, our own network is the problem."""

from __future__ import annotations

import socket

import pytest
from aiohttp import web
from pydantic import ValidationError

from orchestrator.monitors.canary import CanaryConfig, check_canaries
from tests.monitors.webfixtures import bytes_handler


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_one_answering_canary_is_enough(serve, client):
    base = await serve({"/": bytes_handler(b"hello", "text/html")})
    dead = f"http://127.0.0.1:{closed_port()}/"
    verdict = await check_canaries(client, [CanaryConfig(url=f"{base}/", name="home"),
                                            CanaryConfig(url=dead)])
    assert verdict.all_failed is False
    home, other = verdict.results
    assert (home.name, home.ok, home.status) == ("home", True, 200)
    assert (other.name, other.ok) == (dead, False)
    assert other.reason.startswith("connection refused by 127.0.0.1:")


async def test_all_failing_canaries_mean_a_local_network_problem(serve, client):
    base = await serve({"/": bytes_handler(b"oops", "text/plain", status=500)})
    verdict = await check_canaries(client, [
        CanaryConfig(url=f"{base}/"),
        CanaryConfig(url="http://canary.nonexistent.invalid/", timeout="1s"),
    ])
    assert verdict.all_failed is True
    assert [r.reason for r in verdict.results] == [
        "HTTP 500, expected one of [200, 204, 301, 302]",
        "DNS lookup failed for canary.nonexistent.invalid",
    ]


async def test_redirects_and_big_bodies_still_count_as_answers(serve, client):
    async def moved(_request):
        raise web.HTTPMovedPermanently("https://www.example.com/")

    base = await serve({"/old": moved, "/big": bytes_handler(b"x" * 300_000, "text/plain")})
    verdict = await check_canaries(client, [CanaryConfig(url=f"{base}/old"),
                                            CanaryConfig(url=f"{base}/big")])
    assert [(r.ok, r.status) for r in verdict.results] == [(True, 301), (True, 200)]


async def test_no_canaries_never_fail(client):
    verdict = await check_canaries(client, [])
    assert (verdict.all_failed, verdict.results) == (False, ())


def test_canary_urls_are_checked():
    with pytest.raises(ValidationError, match="169.254.169.254 is a link-local"):
        CanaryConfig(url="http://169.254.169.254/")
    assert CanaryConfig(url="http://169.254.169.254/", allow_private=True).allow_private
