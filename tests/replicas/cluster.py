"""Start, signal and observe replica processes (tests/replicas/replica.py) from a test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from orchestrator.lease import LeaseRecord, read_lease
from orchestrator.store.schema import outbox

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str,
             every: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


class Cluster:
    """Replica processes sharing one database and one Twilio sandbox."""

    def __init__(self, engine, url: str, sandbox, tmp_path: Path, **options: Any) -> None:
        self.engine, self.url, self.sandbox, self.tmp = engine, url, sandbox, tmp_path
        self.options = options
        self.procs: dict[str, subprocess.Popen] = {}
        self.generation = 0
        self.disturbed: set[str] = set()  # replicas a test killed or stopped

    def start(self, name: str) -> subprocess.Popen:
        args = [sys.executable, "-m", "tests.replicas.replica", "--url", self.url,
                "--twilio", self.sandbox.base_url("twilio"), "--id", name,
                "--events", str(self.events_path(name))]
        for key, value in self.options.items():
            flag = "--" + key.replace("_", "-")
            args += [flag] if value is True else [flag, str(value)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with (self.tmp / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=log)
        self.procs[name] = proc
        return proc

    def start_all(self, count: int = 3) -> list[str]:
        self.generation += 1
        names = [f"g{self.generation}r{i}" for i in range(1, count + 1)]
        for name in names:
            self.start(name)
        return names

    def events_path(self, name: str) -> Path:
        return self.tmp / f"{name}.events"

    def events(self, name: str, kind: str | None = None) -> list[dict]:
        path = self.events_path(name)
        if not path.exists():
            return []
        found = [json.loads(line) for line in path.read_text().splitlines() if line]
        return [e for e in found if kind is None or e["event"] == kind]

    def send(self, name: str, sig: signal.Signals) -> None:
        self.disturbed.add(name)
        self.procs[name].send_signal(sig)

    def kill(self, name: str) -> None:
        self.send(name, signal.SIGKILL)
        self.procs[name].wait(timeout=10)

    def stop_all(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> None:
        live = [p for p in self.procs.values() if p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(sig)
        for proc in live:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-4000:]

    # -- what the database and the sandbox say -----------------------------------------

    def lease(self) -> LeaseRecord | None:
        with self.engine.connect() as conn:
            return read_lease(conn, "timers")

    def leader(self) -> LeaseRecord | None:
        record = self.lease()
        return record if record is not None and record.live else None

    def outbox_states(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return dict(conn.execute(select(outbox.c.state, func.count())
                                     .group_by(outbox.c.state)).all())

    def sent(self) -> int:
        return self.outbox_states().get("sent", 0)

    def sent_to(self, prefix: str = "Facebook") -> Counter:
        """Messages the sandbox accepted per recipient, for bodies starting with `prefix`."""
        return Counter(m["to"] for m in self.sandbox.twilio.messages()
                       if m["body"].startswith(prefix))

    def settled(self, expected: int) -> bool:
        states = self.outbox_states()
        return (states.get("sent", 0) >= expected and not states.get("pending")
                and not states.get("in_flight"))

    def flaps(self) -> list[dict]:
        """Depositions of a replica that was neither killed, stopped nor shut down: a leader
        that lost its lease while healthy (renewals too slow for the TTL)."""
        out = []
        for name, proc in self.procs.items():
            if name in self.disturbed or proc.returncode is not None:
                continue
            out += self.events(name, "deposed")
        return out
