"""Prints messages to the terminal: the channel of dry runs and the demo."""

from __future__ import annotations

import hashlib
import sys
from typing import TYPE_CHECKING, ClassVar, Literal, TextIO

from channels.base import Capabilities, ChannelConfig, Delivery, Message
from orchestrator.errors import DeliveryError

if TYPE_CHECKING:
    import httpx
    from rich.text import Text


class ConsoleConfig(ChannelConfig):
    kind: Literal["console"]
    stream: Literal["stdout", "stderr"] = "stdout"


def synthetic_id(message: Message) -> str:
    """A stable provider id derived from the idempotency key (same message, same id)."""
    return "console-" + hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:16]


def build_payload(name: str, message: Message) -> Text:
    """The line printed for `message`: channel, recipient, subject and body on one line."""
    from rich.text import Text

    line = Text()
    line.append(f"[{name}]", style="bold cyan")
    line.append(" → ")
    line.append(message.recipient or "public", style="green" if message.recipient else "yellow")
    if message.subject:
        line.append(f" · {message.subject}", style="bold")
    # Text.append never parses markup, so a body with "[x]" prints as written.
    line.append(": " + " ".join(message.body.split()))
    return line


class ConsoleChannel:
    """Writes one readable line per message to stdout or stderr."""

    name: ClassVar[str] = "console"
    capabilities: ClassVar[Capabilities] = Capabilities(broadcast=True, direct=True)
    Config: ClassVar[type[ChannelConfig]] = ConsoleConfig

    def __init__(self, name: str, config: ConsoleConfig, *,
                 http: httpx.AsyncClient | None = None):
        self.instance_name = name
        self.config = config

    def _stream(self) -> TextIO:
        # Looked up per send, so output follows a redirected sys.stdout (the CLI, pytest).
        return sys.stdout if self.config.stream == "stdout" else sys.stderr

    async def send(self, message: Message) -> Delivery:
        from rich.console import Console

        Console(file=self._stream(), soft_wrap=True, highlight=False).print(
            build_payload(self.instance_name, message))
        return Delivery(provider_id=synthetic_id(message), status="printed")

    async def send_batch(self, messages: list[Message]) -> list[Delivery | DeliveryError]:
        return [await self.send(m) for m in messages]

    async def aclose(self) -> None:
        return None
