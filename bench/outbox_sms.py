"""Benchmark: 10,000 SMS through the outbox — unthrottled beside a bare async-SDK loop, and at 50/s.

    .venv/bin/python bench/outbox_sms.py [--count N] [--rounds R] [--throttled-count N]

Targets (issue 4): unthrottled at least 0.8 x the bare twilio async-SDK loop measured in
the same run against the same sandbox; throttled at 50 messages/s, the achieved rate
within 5% of 50 and zero 429s. The unthrottled pair runs R rounds, alternating which goes
first, and the verdict is on the median ratio: on a shared 2-core machine a single pair
swings by 15%. A full throttled run takes 200 s; --throttled-count makes it shorter. The
Twilio sandbox runs in a process of its own and timestamps every request: rates are
measured there, from the first to the last request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.drain import timed_drain  # noqa: E402
from bench.sandbox_process import SandboxProcess  # noqa: E402
from orchestrator.delivery import LanePolicy  # noqa: E402
from orchestrator.gctune import tune_for_fan_out  # noqa: E402
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


def unthrottled_round(box: SandboxProcess, db_url: str, count: int, concurrency: int,
                      outbox_first: bool) -> tuple[float, float]:
    """(bare seconds, outbox seconds) for one round, in the order asked."""
    base = box.base_url("twilio")

    def bare() -> float:
        box.reset()
        return asyncio.run(bare_loop(base, count, concurrency))

    def outbox() -> float:
        box.reset()
        seconds = through_outbox(db_url, base, count,
                                 LanePolicy(rate=None, concurrency=concurrency))
        _, sent, limited, _ = sandbox_rate(box)
        assert (sent, limited) == (count, 0), (sent, limited)
        return seconds

    if outbox_first:
        free = outbox()
        return bare(), free
    return bare(), outbox()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--throttled-count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    # The collector settings of `orchestrator run` and `outbox send`, for the bare loop too.
    tune_for_fan_out()
    with tempfile.TemporaryDirectory() as tmp, SandboxProcess() as box:
        print(f"SMS, {args.count:,} messages, concurrency {args.concurrency}, "
              f"{args.rounds} rounds")
        ratios = []
        for round_ in range(args.rounds):
            bare, free = unthrottled_round(box, f"sqlite:///{os.path.join(tmp, f'{round_}.db')}",
                                           args.count, args.concurrency, round_ % 2 == 1)
            ratios.append(bare / free)
            print(f"  round {round_ + 1}: bare async SDK {args.count / bare:5.0f} msg/s, "
                  f"outbox {args.count / free:5.0f} msg/s, ratio {bare / free:.2f}x")
        print(f"  unthrottled, median ratio {statistics.median(ratios):.2f}x "
              f"(target >= 0.8x; range {min(ratios):.2f}-{max(ratios):.2f})")
        if args.throttled_count:
            box.reset()
            paced = through_outbox(f"sqlite:///{os.path.join(tmp, 'paced.db')}",
                                   box.base_url("twilio"), args.throttled_count,
                                   LanePolicy(rate=args.rate, concurrency=8))
            rate, sent, limited, peak = sandbox_rate(box)
            print(f"  outbox, rate {args.rate:g}/s: {paced:6.2f} s, achieved {rate:.2f} msg/s "
                  f"({(rate / args.rate - 1) * 100:+.2f}%, target within 5%), {limited} x 429, "
                  f"peak {peak} in any 1 s, {sent} requests")


if __name__ == "__main__":
    main()
