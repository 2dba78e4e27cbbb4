"""Prints messages to the terminal: the channel of dry runs and the demo."""

from __future__ import annotations

from typing import ClassVar, Literal

from channels.base import Capabilities, ChannelConfig


class ConsoleConfig(ChannelConfig):
    kind: Literal["console"]
    stream: Literal["stdout", "stderr"] = "stdout"


class ConsoleChannel:
    name: ClassVar[str] = "console"
    capabilities: ClassVar[Capabilities] = Capabilities(broadcast=True, direct=True)
    Config: ClassVar[type[ChannelConfig]] = ConsoleConfig
