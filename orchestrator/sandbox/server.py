"""Run an ASGI app with uvicorn on 127.0.0.1 in a background thread, for tests and the demo."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn


class SandboxServer:
    """One uvicorn server on its own thread and event loop.

    The socket is bound before the thread starts, so `.url` is known at once and port 0
    yields a free ephemeral port with no race between choosing and binding it.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 startup_timeout: float = 10.0, closing: threading.Event | None = None) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        # Set on stop so that scripted delays inside the app end at once.
        self.closing = closing
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox server is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> SandboxServer:
        if self._server is not None:
            raise RuntimeError("the sandbox server is already running")
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only when the
        # protocol says TCP, and without it every keep-alive request waits ~40 ms for
        # delayed ACKs (Nagle).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False,
            # No websockets and no lifespan: the apps need neither, and importing the
            # websockets stack is where uvicorn's deprecation warnings come from.
            ws="none", lifespan="off", loop="asyncio", http="h11",
            # Scripted delays end on `closing`; this only bounds a stuck client.
            timeout_graceful_shutdown=2, timeout_keep_alive=5,
        )
        self._server = uvicorn.Server(config)
        if self.closing is not None:
            self.closing.clear()
        self._error = None
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=f"sandbox-{self.port}", daemon=True,
        )
        self._thread.start()
        self._wait_started()
        return self

    def _run(self, sock: socket.socket) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[sock]))
        except BaseException as exc:  # reported by start(), or lost with the thread
            self._error = exc
        finally:
            sock.close()

    def _wait_started(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() >= deadline:
                error = self._error
                self.stop()
                reason = f": {error!r}" if error else f" within {self.startup_timeout} s"
                raise RuntimeError(f"sandbox server on {self.host}:{self.port} did not start"
                                   + reason) from error
            time.sleep(0.005)

    def stop(self, timeout: float = 10.0) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        if self.closing is not None:
            self.closing.set()
        server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                server.force_exit = True
                thread.join(timeout)
        self._server = self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> SandboxServer:
        # Starting blocks for a few milliseconds; keep it off the caller's event loop.
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)
