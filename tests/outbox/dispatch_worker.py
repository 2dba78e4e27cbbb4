"""A dispatcher process for the crash tests: drains SMS rows to a Twilio sandbox, prints stats.

    python -m tests.outbox.dispatch_worker DB_URL TWILIO_BASE_URL [--lease S] [--concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json

from orchestrator.delivery import LanePolicy
from orchestrator.dispatcher import Dispatcher
from orchestrator.ratelimit import Backoff
from orchestrator.store.engine import make_engine
from tests.outbox.sandboxed import twilio


async def main(args: argparse.Namespace) -> None:
    engine = make_engine(args.db_url)
    dispatcher = Dispatcher(
        engine, {"sms": twilio(args.twilio_url)}, lease=args.lease, poll_interval=0.05,
        backoff=Backoff(initial=0.2, maximum=2.0, jitter=0.2),
        policies={"sms": LanePolicy(rate=None, concurrency=args.concurrency)})
    try:
        stats = await dispatcher.run_until_idle(horizon=args.lease * 2)
    finally:
        await dispatcher.aclose()
        engine.dispose()
    print(json.dumps(dataclasses.asdict(stats)), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("db_url")
    parser.add_argument("twilio_url")
    parser.add_argument("--lease", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    asyncio.run(main(parser.parse_args()))
