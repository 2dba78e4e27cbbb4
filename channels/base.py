"""The Channel interface every plugin implements, its capabilities and its config base."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from orchestrator.durations import Duration
from orchestrator.errors import DeliveryError
from orchestrator.models import HttpUrl, Name, Rate, StrictModel

AddressKind = Literal["phone", "email"]


@dataclass(frozen=True)
class Capabilities:
    """What a channel can do, checked when a playbook is validated (not when it runs)."""

    broadcast: bool = False          # can publish to the public or a team channel (`post`)
    direct: bool = False             # can reach one recipient at a time (`notify`)
    address: AddressKind | None = None  # what a direct recipient is addressed by
    max_length: int | None = None    # in characters (graphemes for Bluesky)
    length_unit: str = "characters"
    subject: bool = False            # messages have a subject line (email)
    threading: bool = False          # can reply to its own earlier post
    media: bool = False
    max_batch: int = 1               # recipients per provider call (SendGrid: 1,000)
    default_rate: float | None = None  # messages per second when the config sets none


class ChannelConfig(StrictModel):
    """Keys every channel kind accepts; each kind subclasses this with `kind: Literal[...]`."""

    kind: str
    depends_on: list[Name] = []
    enabled: bool = True
    base_url: HttpUrl | None = None
    rate: Rate | None = None
    concurrency: int = 8
    timeout: Duration = timedelta(seconds=15)
    display_name: str | None = None


@dataclass(frozen=True)
class Message:
    """One message to one recipient (or to the public when `recipient` is None)."""

    idempotency_key: str
    body: str
    recipient: str | None = None
    subject: str | None = None
    html: str | None = None
    reply_to: str | None = None        # provider id of an earlier post, for threading
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """What the provider said when it accepted a message."""

    provider_id: str | None
    status: str = "sent"
    detail: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Channel(Protocol):
    """A configured way to reach people. Failures raise orchestrator.errors.DeliveryError."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    Config: ClassVar[type[ChannelConfig]]

    async def send(self, message: Message) -> Delivery: ...

    async def aclose(self) -> None: ...


async def send_each(channel: Channel,
                    messages: Iterable[Message]) -> list[Delivery | DeliveryError]:
    """`send_batch` for channels without a batch API: one send per message, in order, each
    failure returned in its message's place rather than raised."""
    results: list[Delivery | DeliveryError] = []
    for message in messages:
        try:
            results.append(await channel.send(message))
        except DeliveryError as exc:
            results.append(exc)
    return results
