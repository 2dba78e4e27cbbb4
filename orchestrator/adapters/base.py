"""The interface of a schedule held by a provider, and the errors its operations raise."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Protocol


class ExternalError(Exception):
    """The provider refused or could not be reached; the schedule there is unchanged."""


class AlreadySent(ExternalError):
    """Too late: the provider sent the message before it could be paused or canceled."""


class ExternalSchedule(Protocol):
    """Scheduled messages at one provider account, addressed by an external ref."""

    kind: ClassVar[str]

    def create(self, text: str, detail: Mapping[str, Any], send_at: datetime) -> str: ...

    def pause(self, ref: str, detail: Mapping[str, Any]) -> None: ...

    def cancel(self, ref: str, detail: Mapping[str, Any]) -> None: ...

    def resume(self, ref: str, detail: Mapping[str, Any], *, text: str, original_at: datetime,
               send_at: datetime, now: datetime) -> tuple[str, datetime]:
        """Make it go out at `send_at` (at once when that is not after `now`); the ref to keep
        and the time it will actually go out."""
        ...
