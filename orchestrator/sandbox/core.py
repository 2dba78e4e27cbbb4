"""What every provider sandbox shares: the request recorder and the failure script."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

# Outcome kinds a Script can queue. "html" and "truncated" exist for the Statuspage
# monitor (captive portals and cut-off bodies are its real failure modes), but any
# provider honours them.
KINDS = ("fail", "slow", "accept_then_timeout", "html", "truncated")


@dataclass
class RecordedRequest:
    """One request as a provider sandbox received it, and the status it answered."""

    provider: str
    method: str
    path: str  # relative to the provider's base URL, as the provider's docs write it
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.time() on arrival
    query_items: list[tuple[str, str]] = field(default_factory=list)
    base: str = ""  # the provider's base URL as this client reached it
    path_params: dict[str, str] = field(default_factory=dict)
    status: int | None = None  # None while the response is still being prepared
    outcome: str | None = None  # the scripted outcome applied, if any
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def form(self) -> dict[str, str | list[str]]:
        """Form fields; a field sent more than once (Twilio's MediaUrl) becomes a list."""
        if self.content_type != "application/x-www-form-urlencoded":
            return {}
        return collapse(parse_qsl(self.body.decode(), keep_blank_values=True))

    @property
    def json(self) -> Any:
        """The JSON body, or None when the body is not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def data(self) -> dict[str, Any]:
        """The body's fields whether it came as JSON or as a form (Mastodon takes both)."""
        body = self.json
        if isinstance(body, dict):
            return body
        return dict(self.form)


def collapse(items: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for key, value in items:
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out


class Recorder:
    """A thread-safe log of every request the sandboxes received, oldest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []
        self._listeners: list[Callable[[RecordedRequest], None]] = []

    def add(self, request: RecordedRequest) -> None:
        with self._lock:
            self._items.append(request)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(request)

    def subscribe(self, listener: Callable[[RecordedRequest], None]) -> None:
        """Call `listener` with each new request (on the server's thread)."""
        with self._lock:
            self._listeners.append(listener)

    def requests(
        self,
        provider: str | None = None,
        path_contains: str | None = None,
        method: str | None = None,
    ) -> list[RecordedRequest]:
        with self._lock:
            items = list(self._items)
        return [
            r for r in items
            if (provider is None or r.provider == provider)
            and (path_contains is None or path_contains in r.path)
            and (method is None or r.method == method.upper())
        ]

    def wait_for(self, count: int, timeout: float = 5.0, **filters: Any) -> list[RecordedRequest]:
        """Block until at least `count` matching requests arrived; raise TimeoutError if not."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.requests(**filters)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"expected {count} requests matching {filters}, got {len(found)}")
            time.sleep(0.01)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


@dataclass
class Outcome:
    """A scripted answer: what to do instead of (or around) the normal response."""

    kind: str
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    retry_after: float | None = None
    body: bytes | str | None = None
    method: str | None = None
    path_contains: str | None = None
    remaining: int | None = 1  # None: until the script is cleared

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and (
            self.path_contains is None or self.path_contains in path
        )


class Script:
    """Per-provider queues of scripted outcomes, plus per-recipient rejection rules.

    Outcomes are consumed in order; the first one that matches a request's method and
    path applies to it. `times=None` keeps an outcome until `clear()`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Outcome]] = {}
        self._rejections: dict[str, dict[str, int]] = {}

    def add(self, provider: str, outcome: Outcome) -> Outcome:
        if outcome.kind not in KINDS:
            raise ValueError(f"unknown outcome kind {outcome.kind!r}; expected one of {KINDS}")
        with self._lock:
            self._queues.setdefault(provider, deque()).append(outcome)
        return outcome

    def fail(
        self, provider: str, status: int = 500, *, times: int | None = 1,
        headers: dict[str, str] | None = None, retry_after: float | None = None,
        body: bytes | str | None = None, method: str | None = None,
        path_contains: str | None = None,
    ) -> Outcome:
        """Answer with `status` in the provider's own error format (429s with its own
        rate-limit headers, computed from `retry_after` seconds)."""
        return self.add(provider, Outcome(
            "fail", status=status, headers=dict(headers or {}), retry_after=retry_after,
            body=body, method=method, path_contains=path_contains, remaining=times,
        ))

    def rate_limit(self, provider: str, retry_after: float = 1.0, **kwargs: Any) -> Outcome:
        return self.fail(provider, 429, retry_after=retry_after, **kwargs)

    def slow(self, provider: str, seconds: float, *, times: int | None = 1,
             method: str | None = None, path_contains: str | None = None) -> Outcome:
        """Wait `seconds`, then answer normally."""
        return self.add(provider, Outcome(
            "slow", seconds=seconds, method=method, path_contains=path_contains, remaining=times,
        ))

    def accept_then_timeout(self, provider: str, seconds: float = 30.0, *,
                            times: int | None = 1, method: str | None = None,
                            path_contains: str | None = None) -> Outcome:
        """Accept and store the message, then hold the response `seconds` (past the
        client's timeout): the ambiguous case reconciliation exists for."""
        return self.add(provider, Outcome(
            "accept_then_timeout", seconds=seconds, method=method,
            path_contains=path_contains, remaining=times,
        ))

    def html(self, provider: str, status: int = 200, *, times: int | None = 1,
             path_contains: str | None = None) -> Outcome:
        """Answer with an HTML error page instead of the API's JSON."""
        return self.add(provider, Outcome(
            "html", status=status, path_contains=path_contains, remaining=times,
        ))

    def truncated(self, provider: str, *, times: int | None = 1,
                  path_contains: str | None = None) -> Outcome:
        """Answer normally but cut the body in half."""
        return self.add(provider, Outcome(
            "truncated", path_contains=path_contains, remaining=times,
        ))

    def reject(self, provider: str, recipient: str, code: int) -> None:
        """Refuse every message to `recipient` with the provider's error `code`
        (Twilio: 21610 opted out, 21211 invalid number, 21614 not mobile; Telegram:
        403 blocked by the user, 400 chat not found)."""
        with self._lock:
            self._rejections.setdefault(provider, {})[str(recipient)] = code

    def rejection(self, provider: str, recipient: str | None) -> int | None:
        with self._lock:
            return self._rejections.get(provider, {}).get(str(recipient))

    def take(self, provider: str, method: str, path: str) -> Outcome | None:
        """The outcome for this request, if any, consuming one of its `times`."""
        with self._lock:
            queue = self._queues.get(provider)
            for outcome in list(queue or ()):
                if not outcome.matches(method, path):
                    continue
                if outcome.remaining is not None:
                    outcome.remaining -= 1
                    if outcome.remaining <= 0:
                        queue.remove(outcome)
                return outcome
        return None

    def pending(self, provider: str) -> list[Outcome]:
        with self._lock:
            return list(self._queues.get(provider, ()))

    def clear(self, provider: str | None = None) -> None:
        with self._lock:
            if provider is None:
                self._queues.clear()
                self._rejections.clear()
            else:
                self._queues.pop(provider, None)
                self._rejections.pop(provider, None)


class Harness:
    """The recorder, script and shutdown flag shared by the provider apps of one sandbox."""

    def __init__(self, recorder: Recorder | None = None, script: Script | None = None) -> None:
        self.recorder = recorder or Recorder()
        self.script = script or Script()
        # Set when the server stops, so scripted delays end at once instead of holding
        # uvicorn's graceful shutdown for as long as the longest delay.
        self.closing = threading.Event()

    async def pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.closing.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.05))
