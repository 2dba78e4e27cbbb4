"""The provider sandbox in a process of its own, so a benchmark's client and server do not share
one interpreter lock; the parent asks it for counts over a pipe."""

from __future__ import annotations

import multiprocessing
from typing import Any


def _serve(conn: Any) -> None:
    from orchestrator.sandbox import Sandbox

    with Sandbox() as sandbox:
        conn.send(sandbox.url)
        while True:
            command, *args = conn.recv()
            if command == "stop":
                break
            if command == "reset":
                sandbox.reset()
                conn.send(None)
            elif command == "requests":  # (provider, path_contains, method) -> [(at, status)]
                provider, path, method = args
                conn.send([(r.at, r.status) for r in sandbox.requests(provider, path, method)])
            elif command == "recipients":
                conn.send(len(sandbox.sendgrid.recipients()))


class SandboxProcess:
    """`with SandboxProcess() as box: box.base_url("twilio"); box.requests("twilio", ...)`."""

    def __enter__(self) -> SandboxProcess:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        self.url = self._conn.recv()
        return self

    def base_url(self, provider: str) -> str:
        return f"{self.url}/{provider}"

    def _ask(self, *command: Any) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    def reset(self) -> None:
        self._ask("reset")

    def requests(self, provider: str, path_contains: str | None = None,
                 method: str | None = None) -> list[tuple[float, int | None]]:
        """(arrival time, status) of each matching request the sandbox recorded."""
        return self._ask("requests", provider, path_contains, method)

    def email_recipients(self) -> int:
        return self._ask("recipients")

    def __exit__(self, *exc: object) -> None:
        self._conn.send(("stop",))
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
