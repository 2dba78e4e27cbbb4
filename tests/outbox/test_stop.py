"""Graceful stop: claiming stops, in-flight sends finish, unstarted claims go back to pending."""

from __future__ import annotations

import asyncio

from orchestrator.delivery import LanePolicy
from orchestrator.dispatcher import Dispatcher
from orchestrator.outbox import Outbox
from tests.outbox.sandboxed import twilio
from tests.outbox.test_dispatch import sms_rows


async def test_stop_releases_unsent_claims_and_loses_nothing(engine, sandbox):
    box = Outbox(engine)
    box.enqueue(sms_rows(200))
    dispatcher = Dispatcher(engine, {"sms": twilio(sandbox.base_url("twilio"))},
                            policies={"sms": LanePolicy(rate=40, concurrency=4)},
                            poll_interval=0.02)
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(1.0, stop.set)
    try:
        stats = await dispatcher.run(stop, drain_timeout=2)
    finally:
        await dispatcher.aclose()
    counts = box.counts()
    sent_at_sandbox = len(sandbox.twilio.messages())
    assert 0 < stats.sent == counts["sent"] == sent_at_sandbox < 200
    assert stats.released > 0
    assert counts.get("in_flight", 0) == 0
    assert counts["sent"] + counts["pending"] == 200
