"""A dispatcher process killed with SIGKILL mid fan-out, restarted: every recipient gets one SMS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from orchestrator.outbox import Outbox, OutboxRow, idempotency_key
from tests.outbox.sandboxed import phone

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 10_000


def start_worker(db_url: str, twilio_url: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.outbox.dispatch_worker", db_url, twilio_url,
         "--lease", "2"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def wait_for_messages(sandbox, count: int, worker: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    # Count recorded creates, not stored messages: rendering 10,000 messages per poll
    # would slow the sandbox down for the dispatcher.
    while len(sandbox.requests("twilio", method="POST")) < count:
        if worker.poll() is not None:
            raise AssertionError(f"worker exited early: {worker.stderr.read()[-2000:]}")
        assert time.monotonic() < deadline, "the first dispatcher sent too little in time"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_midway_then_restart_delivers_each_recipient_exactly_once(
        engine, db_url, sandbox):
    box = Outbox(engine)
    rows = [OutboxRow("sms", phone(i), "Twilio test: Facebook is down, we are on it.",
                      idempotency_key(42, "on_start.1", "sms", phone(i)))
            for i in range(RECIPIENTS)]
    assert box.enqueue(rows) == RECIPIENTS
    url = sandbox.base_url("twilio")

    first = start_worker(db_url, url)
    try:
        wait_for_messages(sandbox, RECIPIENTS // 3, first, timeout=40)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
    assert first.returncode == -signal.SIGKILL
    at_kill = box.counts()
    # The kill caught rows under lease: the provider may have some of them already.
    assert at_kill.get("in_flight", 0) > 0, at_kill
    assert at_kill.get("pending", 0) > 0, at_kill

    second = start_worker(db_url, url)
    try:
        out, err = second.communicate(timeout=90)
    finally:
        if second.poll() is None:  # never leave a dispatcher behind a failed test
            second.kill()
            second.communicate(timeout=10)
    assert second.returncode == 0, err[-3000:]
    stats = json.loads(out.strip().splitlines()[-1])

    per_recipient = Counter(m["to"] for m in sandbox.twilio.messages())
    assert len(per_recipient) == RECIPIENTS
    assert set(per_recipient.values()) == {1}, per_recipient.most_common(3)
    assert box.counts() == {"sent": RECIPIENTS}
    # Rows the dead dispatcher held were asked about (Twilio list by To), not resent blind.
    lookups = sandbox.requests("twilio", method="GET", path_contains="Messages.json")
    assert len(lookups) >= at_kill["in_flight"]
    assert stats["reconciled"] + stats["sent"] >= at_kill["in_flight"] + at_kill["pending"]
