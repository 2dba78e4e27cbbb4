"""The orchestrator's one error tree.

    OrchestratorError
     ├── ConfigError              configuration or playbook is invalid (carries Problems)
     ├── StoreError               the database refused or is unreachable
     │    └── StaleLeaseError     a write carried a fencing token that is no longer current
     ├── DeliveryError            a channel could not deliver a message
     │    ├── TransientDeliveryError   worth retrying, maybe after `retry_after` seconds
     │    ├── PermanentDeliveryError   never retried (bad number, opted out, 401/403)
     │    └── AmbiguousDeliveryError   the provider may have accepted it: reconcile, never resend
     └── MonitorError             a monitor could not produce an observation
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.problems import Problem


class OrchestratorError(Exception):
    """Base of every error the orchestrator raises on purpose."""


class ConfigError(OrchestratorError):
    """A configuration or playbook file has problems; `problems` lists each, located."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class StoreError(OrchestratorError):
    """The store could not complete an operation."""


class StaleLeaseError(StoreError):
    """A leader wrote with a fencing token that another replica has superseded."""


def _truncate(text: str | None, limit: int = 500) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"... ({len(text) - limit} more characters)"


class DeliveryError(OrchestratorError):
    """A send failed; carries the provider's status and a truncated body for the ledger."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | int | None = None,
        body: str | None = None,
    ):
        self.status = status
        self.code = code
        self.body = _truncate(body)
        super().__init__(message)


class TransientDeliveryError(DeliveryError):
    """Retry later; `retry_after` is the provider's stated wait in seconds, if it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw):
        self.retry_after = retry_after
        super().__init__(message, **kw)


class PermanentDeliveryError(DeliveryError):
    """Never retry; `suppress` asks the caller to add the recipient to the suppression list."""

    def __init__(self, message: str, *, suppress: bool = False, **kw):
        self.suppress = suppress
        super().__init__(message, **kw)


class AmbiguousDeliveryError(DeliveryError):
    """The request may have been accepted (timeout after sending): reconcile before any resend."""


class MonitorError(OrchestratorError):
    """A monitor failed in a way that is a bug or bad configuration, not an observation."""
