"""The long tail of services through Apprise URLs (installed separately: `pip install apprise`)."""

from __future__ import annotations

import importlib
import warnings
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from pydantic import Field

from channels.base import Capabilities, ChannelConfig, Delivery, Message, send_each
from orchestrator.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from orchestrator.lazy import httpx
from orchestrator.models import Secret

INSTALL_HINT = "the apprise channel needs the apprise package: pip install apprise"
# Keys of messages that reached some URLs but not all, so a retry skips the ones done.
# Bounded: a message that never succeeds is dead-lettered long before this fills.
_PARTIAL_LIMIT = 10_000


class AppriseConfig(ChannelConfig):
    kind: Literal["apprise"]
    urls: list[Secret] = Field(min_length=1)


def load_apprise() -> Any:
    """Import Apprise on first use; it is an optional dependency, not a hard one."""
    try:
        return importlib.import_module("apprise")
    except ImportError:
        raise PermanentDeliveryError(INSTALL_HINT) from None


def _add(target: Any, url: str) -> bool:
    with warnings.catch_warnings():
        # Apprise loads its plugins on the first add(), and one imports the stdlib's
        # deprecated `imghdr`: a warning about Apprise's code, not ours.
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        return target.add(url)


def build_notification(message: Message) -> dict[str, str]:
    """The keyword arguments of `Apprise.async_notify` for one message."""
    return {"body": message.body, "title": message.subject or ""}


class AppriseChannel:
    """Sends each message to every configured Apprise URL; never raises for the URLs done."""

    name: ClassVar[str] = "apprise"
    capabilities: ClassVar[Capabilities] = Capabilities(broadcast=True, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = AppriseConfig

    def __init__(self, name: str, config: AppriseConfig, *, http: httpx.AsyncClient | None = None):
        # `http` is accepted for the common constructor; Apprise brings its own HTTP stack.
        self.instance_name = name
        self.config = config
        self._targets: list[Any] | None = None
        self._done: OrderedDict[str, set[int]] = OrderedDict()

    def _load_targets(self) -> list[Any]:
        """One Apprise object per URL, so a failure is known per URL, not only overall."""
        if self._targets is None:
            apprise = load_apprise()
            targets = []
            for index, url in enumerate(self.config.urls):
                target = apprise.Apprise()
                if not _add(target, url.get_secret_value()):
                    # The URL itself is never shown: it usually embeds a token.
                    raise PermanentDeliveryError(
                        f"apprise: urls[{index}] is not a URL Apprise understands")
                targets.append(target)
            self._targets = targets
        return self._targets

    async def send(self, message: Message) -> Delivery:
        targets = self._load_targets()
        done = self._done.get(message.idempotency_key, set())
        failed = []
        for index, target in enumerate(targets):
            if index in done:
                continue
            if await target.async_notify(**build_notification(message)):
                done.add(index)
            else:
                failed.append(index)
        if failed:
            self._remember(message.idempotency_key, done)
            # Apprise reports only success or failure, so a failure is assumed worth a retry.
            raise TransientDeliveryError(f"apprise: urls{failed} failed (see the apprise log)")
        self._done.pop(message.idempotency_key, None)
        return Delivery(provider_id=None, detail={"urls": len(targets)})

    def _remember(self, key: str, done: set[int]) -> None:
        self._done[key] = done
        self._done.move_to_end(key)
        while len(self._done) > _PARTIAL_LIMIT:
            self._done.popitem(last=False)

    async def send_batch(self, messages: Iterable[Message]) -> list[Delivery | DeliveryError]:
        return await send_each(self, messages)

    async def aclose(self) -> None:
        self._targets = None
