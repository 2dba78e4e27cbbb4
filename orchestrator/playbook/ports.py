"""What the runner needs from the calendar, the audiences and the outbox, with in-memory twins.

The store-backed adapters call orchestrator.posts, orchestrator.audiences and
orchestrator.outbox; the Memory* twins hold the same contract in a few dicts, for unit
tests of the runner that do not care where posts and contacts live.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from orchestrator.playbook.steps import Recipient


class Calendar(Protocol):
    """Pauses and resumes scheduled posts."""

    def pause(self, selector: Mapping[str, Any], *, reason: str, by: str,
              run_id: int | None, now: datetime) -> list[int]: ...

    def resume(self, selector: Mapping[str, Any] | None, *, missed: str, by: str,
               run_id: int | None, now: datetime) -> Any: ...


class OutboxLike(Protocol):
    def enqueue(self, rows: Iterable[Any], *, now: datetime | None = None) -> int: ...


def _selector(selector: Mapping[str, Any] | None) -> Any:
    from orchestrator.posts import Selector

    if selector is None:
        return None
    return Selector(channels=list(selector.get("channels", [])),
                    platforms=list(selector.get("platforms", [])),
                    campaigns=list(selector.get("campaigns", [])),
                    tags=list(selector.get("tags", [])), all=bool(selector.get("all")))


class PostsCalendar:
    """The content calendar in the store (orchestrator.posts)."""

    def __init__(self, engine: Any, config: Any):
        self.engine, self.config = engine, config

    def pause(self, selector, *, reason, by, run_id, now):
        from orchestrator.posts import pause_posts
        return list(pause_posts(self.engine, self.config, _selector(selector), reason=reason,
                                by=by, run_id=run_id, now=now))

    def resume(self, selector, *, missed, by, run_id, now):
        from orchestrator.posts import resume_posts
        return resume_posts(self.engine, self.config, run_id=run_id,
                            selector=_selector(selector), missed=missed, by=by, now=now)


class StoreAudiences:
    """Recipients from the store's contacts, suppressions removed (orchestrator.audiences)."""

    def __init__(self, engine: Any):
        self.engine = engine

    def recipients(self, audience: str, address_kind: str) -> list[Recipient]:
        from orchestrator.audiences import recipients
        return [Recipient(r.address, r.contact_id, r.timezone)
                for r in recipients(self.engine, audience, address_kind)]


# --- In-memory twins. ---

@dataclass
class MemoryPost:
    id: int
    channel: str
    publish_at: datetime
    state: str = "scheduled"
    paused_by_run: int | None = None


@dataclass
class MemoryCalendar:
    """Posts in a list; pause/resume by channel only (what the runner's tests exercise)."""

    posts: list[MemoryPost] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def _match(self, post: MemoryPost, selector: Mapping[str, Any] | None) -> bool:
        if not selector or selector.get("all"):
            return True
        return post.channel in selector.get("channels", [])

    def pause(self, selector, *, reason, by, run_id, now):
        self.calls.append(("pause", {"selector": dict(selector), "reason": reason, "by": by}))
        chosen = [p for p in self.posts if p.state == "scheduled" and self._match(p, selector)]
        for post in chosen:
            post.state, post.paused_by_run = "paused", run_id
        return [p.id for p in chosen]

    def resume(self, selector, *, missed, by, run_id, now):
        self.calls.append(("resume", {"selector": selector, "missed": missed, "by": by}))
        chosen = [p for p in self.posts if p.state == "paused" and p.paused_by_run == run_id
                  and self._match(p, selector)]
        for post in chosen:
            post.state = "scheduled"
        return {"resumed": [p.id for p in chosen], "missed": missed}


@dataclass
class MemoryAudiences:
    """audience -> contacts as {"id", "phone", "email"} dicts; suppressed addresses removed."""

    members: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    suppressed: set[str] = field(default_factory=set)

    def recipients(self, audience: str, address_kind: str) -> list[Recipient]:
        field_name = "phone" if address_kind == "phone" else "email"
        out = []
        for contact in self.members.get(audience, ()):
            address = contact.get(field_name)
            if address and address not in self.suppressed:
                out.append(Recipient(address, contact.get("id"), contact.get("timezone")))
        return out

