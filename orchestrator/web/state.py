"""What the web app needs from the daemon: the store, the config, a clock and optional hooks.

The hooks are small protocols so the daemon can pass the real runner and calendar (or a
test its own twin); whatever is missing is either done here directly (approving a run) or
answered with 503 (triggering, pausing, resuming).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine

from orchestrator.clock import Clock, SystemClock
from orchestrator.config import Config

if TYPE_CHECKING:
    from orchestrator.monitors.base import Observation
    from orchestrator.monitors.push import PushMonitor
    from orchestrator.playbook.ports import Calendar
    from orchestrator.web.metrics import Metrics


class Runner(Protocol):
    """The playbook runner's operator actions (orchestrator.playbook.runner.Runner fits)."""

    def approve(self, run_id: int, by: str) -> Any: ...

    def trigger_manual(self, playbook: str, platform: str | None = None,
                       vars: Mapping[str, Any] | None = None, *, by: str) -> Any: ...


@dataclass
class WebState:
    """Everything a request handler reads; the daemon may swap `config` on reload."""

    engine: Engine
    config: Config
    clock: Clock = field(default_factory=SystemClock)
    runner: Runner | None = None
    # The runner's calendar port (orchestrator.playbook.ports.PostsCalendar in the daemon).
    calendar: Calendar | None = None
    metrics: Metrics | None = None
    # Push monitors owned by the daemon (their remembered state feeds its polls).
    push_monitors: Sequence[PushMonitor] = ()
    # Called with each accepted push observation: the daemon hands it to the detector.
    on_push: Callable[[Observation], Any] | None = None
    # SendGrid's Event Webhook verification key (base64 DER, as shown under Mail Settings);
    # falls back to config.http.sendgrid_verification_key once that field exists.
    sendgrid_verification_key: str | None = None
    # Twilio account SID -> auth token; by default read from the config's twilio channels.
    twilio_auth_tokens: Mapping[str, str] | None = None
    title: str = "Service status"
    recent_days: int = 7
    max_body_bytes: int = 1_000_000

    def sendgrid_key(self) -> str | None:
        if self.sendgrid_verification_key:
            return self.sendgrid_verification_key
        return getattr(self.config.http, "sendgrid_verification_key", None) or None

    def twilio_tokens(self) -> dict[str, str]:
        if self.twilio_auth_tokens is not None:
            return dict(self.twilio_auth_tokens)
        tokens: dict[str, str] = {}
        for channel in self.config.channels.values():
            if getattr(channel, "kind", None) == "twilio":
                tokens[channel.account_sid.get_secret_value()] = \
                    channel.auth_token.get_secret_value()
        return tokens

    def api_token(self) -> str | None:
        token = self.config.http.token
        return token.get_secret_value() if token is not None else None

    def public_url(self, request_base: str) -> str:
        """The externally visible base URL (no trailing slash)."""
        return (self.config.http.public_url or request_base).rstrip("/")


async def call_hook(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a hook that may be sync (run in a thread: it touches the store) or async."""
    from starlette.concurrency import run_in_threadpool
    if inspect.iscoroutinefunction(function):
        return await function(*args, **kwargs)
    result = await run_in_threadpool(function, *args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result
