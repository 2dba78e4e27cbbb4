"""One replica process for the multi-process tests: LeaderElector, heartbeat, the real dispatcher.

    python -m tests.replicas.replica --url URL --twilio BASE --id r1 --events FILE [--fanout N]

While it leads, its timer enqueues the fan-out (rows `fanout:<i>`, in chunks, each chunk a
fenced transaction, so a new leader resumes where a dead one stopped) and, with `--ticks`,
one tick message every `--tick-every` seconds (`tick:<token>:<seq>`), also fenced: a tick
sent under a stale token is what the SIGSTOP test looks for. Every replica dispatches.
Events (elected, deposed, refused writes, the stale-token probe) are JSON lines in FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import time
from datetime import timedelta
from pathlib import Path

from orchestrator.bulk import COLUMNS, insert_ignore_many, row_of
from orchestrator.delivery import LanePolicy
from orchestrator.dispatcher import Dispatcher
from orchestrator.election import LeaderElector
from orchestrator.errors import StaleLeaseError
from orchestrator.lease import LeaderLease, fenced, fenced_transaction
from orchestrator.replicas import ReplicaRegistry
from orchestrator.store.engine import make_engine
from orchestrator.store.types import utcnow
from tests.outbox.sandboxed import phone, twilio

TICK_TO = "+15550100000"


def outbox_values(key: str, recipient: str, body: str, token: int) -> tuple:
    """A full outbox row for `insert_ignore_many` (every column it writes)."""
    now = utcnow()
    values = dict.fromkeys(COLUMNS)
    values.update(idempotency_key=key, channel="sms", recipient=recipient, body=body,
                  payload={"metadata": {"token": token}}, urgent=True, max_attempts=5,
                  state="pending", attempts=0, created_at=now, updated_at=now)
    return row_of(values)


def fanout_body(i: int) -> str:
    return f"Facebook is down; we are on it. ({i})"


class Replica:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.engine = make_engine(args.url, pool_size=10)
        self.lease = LeaderLease(self.engine, holder=args.id,
                                 ttl=timedelta(seconds=args.ttl))
        self.events = Path(args.events).open("a", buffering=1)
        self.timer: asyncio.Task | None = None
        self.last_token: int | None = None

    def event(self, kind: str, **data) -> None:
        self.events.write(json.dumps({"event": kind, "id": self.args.id, "t": time.time(),
                                      **data}) + "\n")

    # -- leadership ----------------------------------------------------------------

    def elected(self, token: int) -> None:
        self.last_token = token
        self.event("elected", token=token)
        self.timer = asyncio.create_task(self.timers(token))

    async def deposed(self) -> None:
        self.event("deposed", token=self.last_token)
        if self.timer is not None:
            self.timer.cancel()
            await asyncio.gather(self.timer, return_exceptions=True)
            self.timer = None
        if self.last_token is not None:
            await asyncio.to_thread(self.probe, self.last_token)

    def probe(self, token: int) -> None:
        """Write with the old token, skipping the local check: the database must refuse it."""
        try:
            with self.engine.begin() as conn:
                fenced(conn, self.lease.name, token)
                conn.execute(insert_probe(token))
            self.event("probe", token=token, refused=False)
        except StaleLeaseError:
            self.event("probe", token=token, refused=True)

    # -- the leader's timers -------------------------------------------------------

    async def timers(self, token: int) -> None:
        args = self.args
        chunks = range(0, args.fanout, args.chunk)
        for start in chunks:
            rows = [outbox_values(f"fanout:{i}", phone(i), fanout_body(i), token)
                    for i in range(start, min(start + args.chunk, args.fanout))]
            if not await self.write(token, rows):
                return
            await asyncio.sleep(args.chunk_every)
        seq = 0
        while args.ticks:
            seq += 1
            row = outbox_values(f"tick:{token}:{seq}", TICK_TO, f"tick {token}:{seq}", token)
            if not await self.write(token, [row]):
                return
            await asyncio.sleep(args.tick_every)

    async def write(self, token: int, rows: list[dict]) -> bool:
        try:
            await asyncio.to_thread(self._write, token, rows)
            return True
        except StaleLeaseError as exc:
            self.event("refused", token=token, reason=str(exc))
            return False
        except Exception as exc:  # the database went away under us: the next leader resumes
            self.event("write_failed", token=token, reason=repr(exc)[:200])
            return False

    def _write(self, token: int, rows: list[tuple]) -> None:
        with fenced_transaction(self.engine, self.lease, token) as conn:
            insert_ignore_many(conn, "outbox", rows)

    # -- running -------------------------------------------------------------------

    async def run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        dispatcher = Dispatcher(
            self.engine, {"sms": twilio(self.args.twilio)}, owner=self.args.id,
            policies={"sms": LanePolicy(rate=None, concurrency=self.args.concurrency)},
            lease=self.args.row_lease, poll_interval=0.05)
        registry = ReplicaRegistry(self.engine, self.args.id)
        elector = LeaderElector(self.lease)
        self.event("started")
        try:
            await asyncio.gather(
                registry.run(stop, interval=timedelta(seconds=1)),
                elector.run(self.elected, self.deposed, stop),
                dispatcher.run(stop, drain_timeout=5))
        finally:
            await dispatcher.aclose()
            self.event("stopped", stats=vars(dispatcher.stats))
            self.engine.dispose()


def insert_probe(token: int):
    from sqlalchemy import insert

    from orchestrator.store.schema import audit_log

    return insert(audit_log).values(actor="probe", action="stale-token probe",
                                    subject_id=str(token))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--twilio", required=True, help="the sandbox's Twilio base URL")
    p.add_argument("--id", required=True)
    p.add_argument("--events", required=True)
    p.add_argument("--ttl", type=float, default=2.0)
    p.add_argument("--row-lease", type=float, default=3.0)
    p.add_argument("--fanout", type=int, default=0)
    p.add_argument("--chunk", type=int, default=250)
    p.add_argument("--chunk-every", type=float, default=0.1)
    p.add_argument("--ticks", action="store_true")
    p.add_argument("--tick-every", type=float, default=0.1)
    p.add_argument("--concurrency", type=int, default=16)
    return p.parse_args(argv)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(Replica(parse()).run())


if __name__ == "__main__":
    main()
