"""Turns a provider's HTTP answer into a classified DeliveryError, for every channel."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from orchestrator.errors import PermanentDeliveryError, TransientDeliveryError

# Header names providers use to say when to come back, most specific first.
_RESET_HEADERS = ("retry-after", "x-ratelimit-reset", "x-rate-limit-reset", "ratelimit-reset")


def _seconds_until(value: str, now: float) -> float | None:
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        # Epoch timestamps (X, SendGrid) are far larger than any sane delay in seconds.
        return max(0.0, number - now) if number > 1e9 else max(0.0, number)
    for parse in (datetime.fromisoformat, parsedate_to_datetime):
        try:
            moment = parse(value.replace("Z", "+00:00") if parse is datetime.fromisoformat
                           else value)
        except (ValueError, TypeError):
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, moment.timestamp() - now)
    return None


def retry_after(headers: Mapping[str, str], body: Any = None,
                now: float | None = None) -> float | None:
    """The provider's stated wait in seconds, from headers or a JSON body (`retry_after`)."""
    now = time.time() if now is None else now
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in _RESET_HEADERS:
        if name in lowered:
            seconds = _seconds_until(str(lowered[name]), now)
            if seconds is not None:
                return seconds
    data = body
    if isinstance(body, str | bytes):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
    if isinstance(data, dict):
        candidate = data.get("retry_after")
        if candidate is None and isinstance(data.get("parameters"), dict):
            candidate = data["parameters"].get("retry_after")  # Telegram
        if isinstance(candidate, int | float):
            return float(candidate)
    return None


def raise_for_status(status: int, headers: Mapping[str, str], body: str, provider: str) -> None:
    """Raise the right DeliveryError for a non-2xx answer; return quietly on 2xx."""
    if 200 <= status < 300:
        return
    if status == 429:
        raise TransientDeliveryError(
            f"{provider} rate limited the request", status=status, body=body,
            retry_after=retry_after(headers, body))
    if status >= 500 or status in (408, 425):
        raise TransientDeliveryError(
            f"{provider} answered {status}", status=status, body=body,
            retry_after=retry_after(headers, body))
    raise PermanentDeliveryError(f"{provider} refused the message ({status})",
                                 status=status, body=body)
