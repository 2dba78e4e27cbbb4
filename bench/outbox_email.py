"""Benchmark: a 100,000-recipient email fan-out through the outbox, beside a bare SendGrid SDK loop.

    .venv/bin/python bench/outbox_email.py [--count N] [--db URL]

Targets (issue 4): at most 100 SendGrid calls and 5 s for 100,000 recipients. Both runs
send to the same SendGrid sandbox, which runs in a process of its own; calls are counted
at the sandbox.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.drain import timed_drain  # noqa: E402
from bench.sandbox_process import SandboxProcess  # noqa: E402
from orchestrator.outbox import Outbox, OutboxRow, idempotency_key  # noqa: E402
from orchestrator.store.engine import make_engine  # noqa: E402
from orchestrator.store.migrate import upgrade  # noqa: E402
from tests.outbox.sandboxed import sendgrid  # noqa: E402

BODY = "Facebook is having trouble since 13:02. Our team is on it: https://status.example.com"


def bare_sdk(base_url: str, count: int, threads: int) -> float:
    """Seconds for the sendgrid SDK alone to send `count` recipients, 1,000 per call."""
    from sendgrid import SendGridAPIClient

    client = SendGridAPIClient("SG.bench", host=base_url)

    def call(start: int) -> None:
        client.client.mail.send.post(request_body={
            "personalizations": [{"to": [{"email": f"bare{i}@example.com"}],
                                  "subject": "Service update"}
                                 for i in range(start, min(start + 1000, count))],
            "from": {"email": "status@example.com"},
            "content": [{"type": "text/plain", "value": BODY}]})

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(call, range(0, count, 1000)))
    return time.perf_counter() - started


def outbox_run(db_url: str, base_url: str, count: int) -> tuple[float, float]:
    engine = make_engine(db_url)
    upgrade(engine)
    rows = [OutboxRow("email", f"user{i}@example.com", BODY,
                      idempotency_key(1, "on_start.2", "email", f"user{i}@example.com"),
                      subject="Service update") for i in range(count)]
    started = time.perf_counter()
    assert Outbox(engine).enqueue(rows) == count
    enqueued = time.perf_counter() - started

    drained = timed_drain(engine, {"email": sendgrid(base_url)}, count)
    engine.dispose()
    return enqueued, drained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SandboxProcess() as box:
        db_url = args.db or f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        base = box.base_url("sendgrid")
        bare = bare_sdk(base, args.count, threads=4)
        bare_calls = len(box.requests("sendgrid", "/v3/mail/send"))
        box.reset()
        enqueued, drained = outbox_run(db_url, base, args.count)
        calls = len(box.requests("sendgrid", "/v3/mail/send"))
        delivered = box.email_recipients()
    total = enqueued + drained
    print(f"email fan-out, {args.count:,} recipients ({db_url.split(':')[0]})")
    print(f"  bare SendGrid SDK, 4 threads : {bare:6.2f} s  {args.count / bare:9,.0f} rcpt/s"
          f"  {bare_calls} calls")
    print(f"  outbox enqueue               : {enqueued:6.2f} s")
    print(f"  outbox dispatch              : {drained:6.2f} s  {args.count / drained:9,.0f} rcpt/s"
          f"  {calls} calls, {delivered:,} delivered")
    print(f"  outbox total                 : {total:6.2f} s  (target <= 5 s, <= "
          f"{-(-args.count // 1000)} calls)  dispatch/bare = {bare / drained:.2f}x")


if __name__ == "__main__":
    main()
