"""An `orchestrator run` subprocess whose JSON log lines the tests read with deadlines."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class Daemon:
    """`python -m orchestrator run -c CONFIG --log-format json`, killed if a test leaves it."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "run", "-c", str(config),
             "--log-format", "json"],
            cwd=ROOT, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        with self.proc.stdout:
            for line in self.proc.stdout:
                self._queue.put(line)
        self._queue.put(None)

    def _drain(self, timeout: float) -> bool:
        """Take the lines that arrived (waiting up to `timeout` for one); False at EOF."""
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            return True
        while line is not None:
            self.raw.append(line)
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                pass  # a traceback line: kept in `raw` for the failure message
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return True
        return False

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20.0,
                 what: str = "a log line") -> dict[str, Any]:
        """The first log line matching `predicate`, or AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            left = deadline - time.monotonic()
            if left <= 0 or not self._drain(min(left, 0.2)) and self._queue.empty():
                for line in self.lines[seen:]:
                    if predicate(line):
                        return line
                raise AssertionError(f"no {what} within {timeout} s; output:\n"
                                     + "".join(self.raw[-40:]))

    def event(self, name: str, timeout: float = 20.0) -> dict[str, Any]:
        return self.wait_for(lambda line: line.get("msg") == name, timeout, f"{name!r} event")

    def events(self, name: str) -> list[dict[str, Any]]:
        self._drain(0)
        return [line for line in self.lines if line.get("msg") == name]

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then the exit code (all output read)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._reader.join(10)
        while self._drain(0.5):
            pass
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)
