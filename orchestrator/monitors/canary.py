"""Canaries: hosts that should always answer; when all fail, the problem is our own network."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from orchestrator.durations import Duration
from orchestrator.models import StrictModel, check_url
from orchestrator.monitors.fetch import fetch

# A canary only needs an answer, not a document: read little, follow nothing.
_CANARY_MAX_BYTES = 64 * 1024


class CanaryConfig(StrictModel):
    allow_private: bool = False  # declared before url so url's check can read it
    url: str
    name: str | None = None
    timeout: Duration = timedelta(seconds=5)
    expect_status: list[int] = Field(default=[200, 204, 301, 302])

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str, info: ValidationInfo) -> str:
        return check_url(value, allow_private=bool(info.data.get("allow_private")))


@dataclass(frozen=True)
class CanaryResult:
    """One canary's answer: `ok` when it answered with an expected status."""

    name: str
    url: str
    ok: bool
    status: int | None = None
    latency_ms: float | None = None
    reason: str = ""


@dataclass(frozen=True)
class CanaryVerdict:
    """All canaries together: `all_failed` means our own network is the problem."""

    all_failed: bool
    results: tuple[CanaryResult, ...]


async def check_canary(client: Any, canary: CanaryConfig) -> CanaryResult:
    result = await fetch(client, canary.url, timeout=canary.timeout.total_seconds(),
                         max_bytes=_CANARY_MAX_BYTES, max_redirects=0,
                         allow_private=canary.allow_private)
    name = canary.name or canary.url
    # An oversized body still proves the host answered; only the status matters here.
    if result.status in canary.expect_status:
        return CanaryResult(name, canary.url, True, result.status, result.latency_ms)
    reason = result.error or f"HTTP {result.status}, expected one of {canary.expect_status}"
    return CanaryResult(name, canary.url, False, result.status, result.latency_ms, reason)


async def check_canaries(client: Any, canaries: list[CanaryConfig]) -> CanaryVerdict:
    """Ask every canary at once; with no canaries configured nothing is ever declared failed."""
    results = tuple(await asyncio.gather(*(check_canary(client, c) for c in canaries)))
    return CanaryVerdict(all_failed=bool(results) and not any(r.ok for r in results),
                         results=results)
