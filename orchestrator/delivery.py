"""From configuration to channels, and from a provider's answer to the ledger's verdict.

`build_channels` instantiates every enabled channel of a Config through the registry;
`policy_for` reads the pacing a channel asks for; `judge` is the pure rule that turns a
Delivery or a DeliveryError into what the outbox row becomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from channels.base import Channel, Delivery
from channels.registry import channel_class
from orchestrator.errors import (
    AmbiguousDeliveryError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from orchestrator.ratelimit import Backoff, rate_limit_reset

if TYPE_CHECKING:
    import httpx

    from orchestrator.claims import Claimed
    from orchestrator.config import Config


def build_channels(config: Config, http: httpx.AsyncClient | None = None) -> dict[str, Channel]:
    """Every enabled channel of `config`, by its configured name."""
    return {name: channel_class(cfg.kind)(name, cfg, http=http)
            for name, cfg in config.channels.items() if cfg.enabled}


@dataclass(frozen=True)
class LanePolicy:
    """How fast and how wide one channel may send."""

    rate: float | None          # provider requests per second; None: unthrottled
    concurrency: int = 8
    max_batch: int = 1          # recipients per provider request
    depends_on: tuple[str, ...] = ()
    burst: float = 1.0


def policy_for(channel: Any) -> LanePolicy:
    """The channel's configured rate (else its default), concurrency, batch size and platforms."""
    caps = channel.capabilities
    config = getattr(channel, "config", None)
    rate = getattr(config, "rate", None) or caps.default_rate
    return LanePolicy(rate=rate, concurrency=getattr(config, "concurrency", 8),
                      max_batch=max(1, caps.max_batch),
                      depends_on=tuple(getattr(config, "depends_on", ()) or ()))


def can_reconcile(channel: Any) -> bool:
    return callable(getattr(channel, "reconcile", None))


@dataclass(frozen=True)
class Verdict:
    """What a row becomes after one send."""

    state: str                       # sent | pending | failed | unknown | suppressed | in_flight
    provider_id: str | None = None
    error: str | None = None
    retry_in: float | None = None    # pending: seconds until the next attempt
    reconcile_in: float | None = None  # in_flight: seconds until reconciliation
    count_attempt: bool = True
    block_channel_for: float | None = None  # a stated rate-limit reset, for the whole channel
    suppress: bool = False
    failover: bool = False


def judge(claim: Claimed, outcome: Delivery | BaseException, *, reconcilable: bool,
          backoff: Backoff) -> Verdict:
    """The verdict on one send of `claim` (pure but for the backoff's jitter)."""
    if isinstance(outcome, Delivery):
        return Verdict("sent", provider_id=outcome.provider_id)
    error = f"{type(outcome).__name__}: {outcome}"
    attempt = claim.attempts + 1
    if isinstance(outcome, PermanentDeliveryError):
        if outcome.suppress:
            return Verdict("suppressed", error=error, suppress=True)
        return Verdict("failed", error=error, failover=True)
    if isinstance(outcome, AmbiguousDeliveryError):
        if reconcilable:
            return Verdict("in_flight", error=error,
                           reconcile_in=backoff.delay(attempt, outcome))
        return Verdict("unknown", error=error)
    if isinstance(outcome, TransientDeliveryError):
        reset = rate_limit_reset(outcome)
        if reset is not None:
            # The provider asked us to slow down; the message itself is fine, so this does
            # not spend its attempt budget. The whole channel waits for the reset.
            return Verdict("pending", error=error, retry_in=backoff.delay(1, outcome),
                           count_attempt=False, block_channel_for=reset)
        if attempt >= claim.max_attempts:
            return Verdict("failed", error=f"gave up after {attempt} attempts: {error}",
                           failover=True)
        return Verdict("pending", error=error, retry_in=backoff.delay(attempt, outcome))
    if isinstance(outcome, DeliveryError):
        return Verdict("failed", error=error, failover=True)
    # A bug in a channel is not the provider refusing: keep the row for a person to judge.
    return Verdict("unknown", error=f"channel error {error}")
