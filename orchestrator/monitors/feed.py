"""RSS and Atom status feeds: new entries matching keywords open states, "resolved" closes them."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from orchestrator.durations import Duration
from orchestrator.models import PlatformState
from orchestrator.monitors.base import MonitorConfig, Observation, UrlMonitorConfig
from orchestrator.monitors.feed_xml import Entry, parse_feed
from orchestrator.monitors.fetch import BadResponse, FetchLimits, Validators, expect_success, fetch
from orchestrator.monitors.observe import Clock, failed, observed, seconds, utcnow, worst

log = logging.getLogger(__name__)
_SEEN_LIMIT = 500  # entry versions remembered; feeds carry 20-50 items


class FeedConfig(UrlMonitorConfig, FetchLimits):
    kind: Literal["feed"]
    keywords: dict[PlatformState, list[str]] = {
        "major_outage": ["outage", "down", "unavailable"],
        "degraded": ["degraded", "elevated error", "slow", "delay"],
        "maintenance": ["maintenance"],
    }
    resolved_words: list[str] = ["resolved", "restored", "recovered", "operational",
                                 "completed"]
    max_age: Duration = timedelta(hours=24)  # older entries are history, not news


def _pattern(words: list[str]) -> re.Pattern[str] | None:
    words = [w.strip() for w in words if w.strip()]
    if not words:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.I)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 3}


class FeedMonitor:
    """Remembers entry versions already seen and the entries that opened a state."""

    kind: ClassVar[str] = "feed"
    Config: ClassVar[type[MonitorConfig]] = FeedConfig

    def __init__(self, config: FeedConfig, *, clock: Clock = utcnow):
        self.config = config
        self.clock = clock
        self.resolved = _pattern(config.resolved_words)
        self.keywords = [(state, p) for state, words in config.keywords.items()
                         if (p := _pattern(words)) is not None]
        self.seen: dict[str, None] = {}          # entry versions, oldest first
        self.open: dict[str, dict[str, Any]] = {}  # entry key -> {state, title, link, when}
        self.validators = Validators()

    async def check(self, client: Any) -> Observation:
        c, at = self.config, self.clock()
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml",
                   **c.headers, **self.validators.headers()}
        result = await fetch(client, c.url, headers=headers, timeout=seconds(c),
                             max_bytes=c.max_bytes, max_redirects=c.max_redirects,
                             allow_private=c.allow_private)
        fresh = 0
        try:
            if result.status == 304 and not result.error:
                pass  # nothing new; open entries still age out below
            else:
                expect_success(result)
                entries = parse_feed(result.body)
                fresh = self.absorb(entries, at)
                self.validators.remember(result)
        except BadResponse as exc:
            return failed(c, at, str(exc), latency_ms=result.latency_ms)
        except Exception as exc:  # noqa: BLE001 - an odd feed must not stop the scheduler
            log.warning("monitor %s could not read %s", c.name, c.url, exc_info=True)
            return failed(c, at, f"unreadable feed: {type(exc).__name__}",
                          latency_ms=result.latency_ms)
        self._expire(at)
        return self._observation(at, result.latency_ms, fresh, result.status == 304)

    def absorb(self, entries: list[Entry], now: datetime) -> int:
        """Apply unseen entry versions, oldest first; returns how many were new."""
        cutoff = now - self.config.max_age
        unseen = [e for e in reversed(entries) if e.version not in self.seen]
        unseen.sort(key=lambda e: e.when or now)  # stable: undated keep document order
        for entry in unseen:
            self.seen[entry.version] = None
            if entry.when is not None and entry.when < cutoff:
                continue
            self._apply(entry)
        while len(self.seen) > _SEEN_LIMIT:
            del self.seen[next(iter(self.seen))]
        return len(unseen)

    def _apply(self, entry: Entry) -> None:
        text = f"{entry.title} {entry.text}"
        if self.resolved is not None and self.resolved.search(text):
            self._close(entry)
            return
        states = [state for state, pattern in self.keywords if pattern.search(text)]
        if states:
            self.open[entry.key] = {"state": worst(states), "title": entry.title,
                                    "link": entry.link,
                                    "when": entry.when.isoformat() if entry.when else None}

    def _close(self, entry: Entry) -> None:
        """Close the entry itself; a separate "resolved" entry closes the open entries its
        title shares words with, or all of them when it shares none."""
        if entry.key in self.open:
            del self.open[entry.key]
            return
        words = _words(entry.title) - _words(" ".join(self.config.resolved_words))
        related = [k for k, v in self.open.items() if words & _words(v["title"])]
        for key in related or list(self.open):
            del self.open[key]

    def _expire(self, now: datetime) -> None:
        cutoff = now - self.config.max_age
        for key, item in list(self.open.items()):
            try:
                when = datetime.fromisoformat(item["when"]) if item.get("when") else None
            except (TypeError, ValueError):
                when = None
            if when is not None and when < cutoff:
                del self.open[key]

    def _observation(self, at: datetime, latency: float, fresh: int,
                     not_modified: bool) -> Observation:
        state = worst(v["state"] for v in self.open.values())
        items = list(self.open.values())
        reason = "; ".join(f"{v['state']}: {v['title']}" for v in items[:3]) or \
            "no open entries"
        detail: dict[str, Any] = {"open": items[:20], "new_entries": fresh,
                                  **{k: v for k, v in self.validators.as_dict().items() if v}}
        if not_modified:
            detail["not_modified"] = True
        return observed(self.config, at, state, reason=reason, latency_ms=latency,
                        detail=detail)

    def state_dict(self) -> dict[str, Any]:
        return {"seen": list(self.seen), "open": dict(self.open),
                **self.validators.as_dict()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore `state_dict()` output; malformed parts are dropped."""
        if not isinstance(state, Mapping):
            return
        seen, opened = state.get("seen"), state.get("open")
        if isinstance(seen, list):
            self.seen = {str(v): None for v in seen[-_SEEN_LIMIT:]}
        if isinstance(opened, Mapping):
            self.open = {str(k): dict(v) for k, v in opened.items()
                         if isinstance(v, Mapping) and v.get("state") in self.config.keywords}
        self.validators = Validators.from_dict(state)
