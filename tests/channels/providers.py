"""Starts one provider sandbox app on an ephemeral 127.0.0.1 port, for the channel tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from orchestrator.sandbox.core import Harness
from orchestrator.sandbox.provider import ProviderApp
from orchestrator.sandbox.server import SandboxServer


@dataclass
class Served:
    """A running provider sandbox: its app (state, script, recorder) and its base URL."""

    app: ProviderApp
    url: str

    @property
    def script(self):
        return self.app.harness.script

    def requests(self, **filters):
        return self.app.harness.recorder.requests(**filters)


@contextmanager
def serve(app_class: type[ProviderApp]) -> Iterator[Served]:
    """Run `app_class` until the block ends."""
    harness = Harness()
    app = app_class(harness)
    server = SandboxServer(app.app, closing=harness.closing).start()
    try:
        yield Served(app, server.url)
    finally:
        server.stop()


def refused_url() -> str:
    """A 127.0.0.1 URL where nothing listens: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
