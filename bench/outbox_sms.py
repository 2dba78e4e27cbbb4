"""Benchmark: 10,000 SMS through the outbox — unthrottled beside a bare async-SDK loop, and at 50/s.

    .venv/bin/python bench/outbox_sms.py [--count N] [--throttled-count N] [--concurrency C]

Targets (issue 4): unthrottled at least 0.8 x the bare twilio async-SDK loop measured in
the same run against the same sandbox; throttled at 50 messages/s, the achieved rate
within 5% of 50 and zero 429s. A full throttled run takes 200 s; --throttled-count makes
it shorter. The Twilio sandbox runs in a process of its own and timestamps every request:
rates are measured there, from the first to the last request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.drain import timed_drain  # noqa: E402
from bench.sandbox_process import SandboxProcess  # noqa: E402
from orchestrator.delivery import LanePolicy  # noqa: E402
from orchestrator.outbox import Outbox, OutboxRow, idempotency_key  # noqa: E402
from orchestrator.store.engine import make_engine  # noqa: E402
from orchestrator.store.migrate import upgrade  # noqa: E402
from tests.outbox.sandboxed import ACCOUNT_SID, SENDER, phone, twilio  # noqa: E402

BODY = "Facebook is down since 13:02; we are on it. Updates: https://status.example.com"


async def bare_loop(base_url: str, count: int, concurrency: int) -> float:
    """Seconds for twilio's own async client alone to create `count` messages."""
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    client = Client(ACCOUNT_SID, "token", http_client=AsyncTwilioHttpClient())
    client.api.base_url = base_url
    messages = client.api.v2010.accounts(ACCOUNT_SID).messages
    slots = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with slots:
            await messages.create_async(to=phone(i), from_=SENDER, body=BODY)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    await client.http_client.close()
    return elapsed


def through_outbox(db_url: str, base_url: str, count: int, policy: LanePolicy) -> float:
    engine = make_engine(db_url)
    upgrade(engine)
    Outbox(engine).enqueue(OutboxRow("sms", phone(i), BODY, idempotency_key(
        f"bench-{policy.rate}", "notify", "sms", phone(i))) for i in range(count))

    elapsed = timed_drain(engine, {"sms": twilio(base_url)}, count, {"sms": policy})
    engine.dispose()
    return elapsed


def sandbox_rate(box: SandboxProcess) -> tuple[float, int, int, int]:
    """(requests/s from first to last, requests, 429s, most requests in any 1 s window)."""
    seen = sorted(box.requests("twilio", "Messages.json", "POST"))
    times = [at for at, _ in seen]
    limited = sum(1 for _, status in seen if status == 429)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    peak, left = 0, 0
    for right, at in enumerate(times):
        while at - times[left] >= 1.0:
            left += 1
        peak = max(peak, right - left + 1)
    return ((len(times) - 1) / span if span else 0.0), len(times), limited, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--throttled-count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SandboxProcess() as box:
        base = box.base_url("twilio")
        bare = asyncio.run(bare_loop(base, args.count, args.concurrency))
        bare_rate, *_ = sandbox_rate(box)
        box.reset()
        free = through_outbox(f"sqlite:///{os.path.join(tmp, 'free.db')}", base, args.count,
                              LanePolicy(rate=None, concurrency=args.concurrency))
        free_rate, sent, limited, _ = sandbox_rate(box)
        print(f"SMS, {args.count:,} messages, concurrency {args.concurrency}")
        print(f"  bare twilio async SDK : {bare:6.2f} s  {args.count / bare:7.0f} msg/s"
              f"  (at the sandbox {bare_rate:.0f}/s)")
        print(f"  outbox, unthrottled   : {free:6.2f} s  {args.count / free:7.0f} msg/s"
              f"  (at the sandbox {free_rate:.0f}/s, {sent} requests)  "
              f"ratio {bare / free:.2f}x (target >= 0.8x)")
        if args.throttled_count:
            box.reset()
            paced = through_outbox(f"sqlite:///{os.path.join(tmp, 'paced.db')}", base,
                                   args.throttled_count,
                                   LanePolicy(rate=args.rate, concurrency=8))
            rate, sent, limited, peak = sandbox_rate(box)
            print(f"  outbox, rate {args.rate:g}/s    : {paced:6.2f} s  achieved {rate:.2f} msg/s "
                  f"({(rate / args.rate - 1) * 100:+.2f}%, target within 5%), {limited} x 429, "
                  f"peak {peak} in any 1 s, {sent} requests")


if __name__ == "__main__":
    main()
