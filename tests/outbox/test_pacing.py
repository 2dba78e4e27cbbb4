"""Token bucket, channel gate and backoff (pure timing, fake clocks), and the verdict rules."""

from __future__ import annotations

import pytest

from channels.base import Delivery
from orchestrator.delivery import judge
from orchestrator.errors import (
    AmbiguousDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from orchestrator.outbox import Claimed
from orchestrator.ratelimit import Backoff, ChannelGate, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_spaces_reservations_exactly():
    clock = FakeClock()
    bucket = TokenBucket(50, clock=clock)
    waits = [bucket.reserve() for _ in range(5)]
    assert waits == pytest.approx([0, 0.02, 0.04, 0.06, 0.08])
    clock.now += 10  # idle time does not bank tokens beyond the burst
    assert [bucket.reserve() for _ in range(2)] == pytest.approx([0, 0.02])


def test_token_bucket_burst():
    bucket = TokenBucket(10, burst=3, clock=FakeClock())
    assert [bucket.reserve() for _ in range(5)] == pytest.approx([0, 0, 0, 0.1, 0.2])


async def test_gate_block_is_never_shortened():
    clock = FakeClock()
    gate = ChannelGate(None, 1, clock=clock)
    gate.block(5)
    gate.block(1)
    assert gate.blocked_for() == 5
    clock.now += 5
    await gate.enter()


def test_backoff_never_waits_less_than_the_provider_asked():
    backoff = Backoff(initial=0.1, maximum=1.0, jitter=0.1)
    stated = TransientDeliveryError("slow down", status=429, retry_after=30)
    assert all(backoff.delay(1, stated) >= 30 for _ in range(20))
    grows = [backoff.delay(n) for n in (1, 2, 3, 4)]
    assert grows[0] < grows[3] <= 1.0


def claim(**overrides) -> Claimed:
    fields = dict(id=1, key="k", channel="sms", recipient="+14155552671", body="hi",
                  subject=None, payload={}, urgent=False, fallback=("email",), contact_id=None,
                  run_id=None, step_key=None, audience=None, attempts=0, max_attempts=3,
                  token="t")
    fields.update(overrides)
    return Claimed(**fields)


BACKOFF = Backoff(initial=1, maximum=60, jitter=0)


@pytest.mark.parametrize(("outcome", "reconcilable", "expected"), [
    pytest.param(Delivery("SM1"), True, ("sent", True, False, False), id="sent"),
    pytest.param(PermanentDeliveryError("stop", suppress=True), True,
                 ("suppressed", True, True, False), id="opted-out"),
    pytest.param(PermanentDeliveryError("bad number"), True, ("failed", True, False, True),
                 id="permanent-fails-over"),
    pytest.param(AmbiguousDeliveryError("timeout"), True, ("in_flight", True, False, False),
                 id="ambiguous-reconciles"),
    pytest.param(AmbiguousDeliveryError("timeout"), False, ("unknown", True, False, False),
                 id="ambiguous-without-reconcile"),
    pytest.param(TransientDeliveryError("500"), True, ("pending", True, False, False),
                 id="transient-retries"),
    pytest.param(TransientDeliveryError("429", status=429, retry_after=7), True,
                 ("pending", False, False, False), id="rate-limit-free-retry"),
])
def test_judge(outcome, reconcilable, expected):
    verdict = judge(claim(), outcome, reconcilable=reconcilable, backoff=BACKOFF)
    assert (verdict.state, verdict.count_attempt, verdict.suppress, verdict.failover) == expected


def test_judge_rate_limit_blocks_the_channel_and_dead_letters_after_budget():
    limited = judge(claim(), TransientDeliveryError("429", status=429, retry_after=7),
                    reconcilable=True, backoff=BACKOFF)
    assert limited.block_channel_for == 7 and limited.retry_in >= 7
    last = judge(claim(attempts=2), TransientDeliveryError("503"), reconcilable=True,
                 backoff=BACKOFF)
    assert (last.state, last.failover) == ("failed", True)
    assert last.error.startswith("gave up after 3 attempts")
