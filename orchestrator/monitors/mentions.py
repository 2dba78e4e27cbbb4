"""Social listening: a spike in public posts mentioning a term, against its own learned baseline."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field

from orchestrator.durations import Duration
from orchestrator.models import PlatformState
from orchestrator.monitors.base import MonitorConfig, Observation, UrlMonitorConfig
from orchestrator.monitors.baseline import Baseline, baseline, judge, prune, window_start
from orchestrator.monitors.conditions import check_path
from orchestrator.monitors.fetch import (
    BadResponse,
    FetchLimits,
    decode_json,
    expect_success,
    fetch,
)
from orchestrator.monitors.jsonpath import lookup, parse_path
from orchestrator.monitors.observe import Clock, failed, observed, seconds, utcnow

log = logging.getLogger(__name__)
JsonPath = Annotated[str, AfterValidator(check_path)]
_KEEP = timedelta(days=8)   # a week of same-time-of-day history, plus today
_PARTIAL_MIN = 0.25         # a window this far along is extrapolated; less is too noisy


class MentionsConfig(UrlMonitorConfig, FetchLimits):
    kind: Literal["mentions"]
    shape: Literal["series", "count"] = "series"  # X-style counts series, or {"count": N}
    series_path: JsonPath = "data"
    count_path: JsonPath | None = None  # default: tweet_count in a series, count otherwise
    start_path: JsonPath = "start"
    end_path: JsonPath = "end"
    window: Duration = timedelta(hours=1)
    spike_ratio: float = Field(default=2.5, gt=1)
    min_count: int = Field(default=100, ge=0)
    min_history: int = Field(default=3, ge=1)  # windows needed before judging at all
    spike_state: PlatformState = "partial_outage"

    def counted(self) -> str:
        return self.count_path or ("tweet_count" if self.shape == "series" else "count")


class MentionsMonitor:
    """Series shape: learns the baseline from each answer's own history. Count shape: keeps
    per-window means between polls (exportable with `state_dict`)."""

    kind: ClassVar[str] = "mentions"
    Config: ClassVar[type[MonitorConfig]] = MentionsConfig

    def __init__(self, config: MentionsConfig, *, clock: Clock = utcnow):
        self.config = config
        self.clock = clock
        self.polled: dict[datetime, tuple[float, int]] = {}  # count shape: start -> (sum, n)

    async def check(self, client: Any) -> Observation:
        c, at = self.config, self.clock()
        result = await fetch(client, c.url, headers={"Accept": "application/json", **c.headers},
                             timeout=seconds(c), max_bytes=c.max_bytes,
                             max_redirects=c.max_redirects, allow_private=c.allow_private)
        try:
            expect_success(result)
            document = decode_json(result)
            if c.shape == "series":
                count, start, base, extra = self.read_series(document)
            else:
                count, start, base, extra = self.read_count(document, at)
        except BadResponse as exc:
            return failed(c, at, str(exc), latency_ms=result.latency_ms)
        except Exception as exc:  # noqa: BLE001 - an odd body must not stop the scheduler
            log.warning("monitor %s could not read %s", c.name, c.url, exc_info=True)
            return failed(c, at, f"unreadable counts: {type(exc).__name__}",
                          latency_ms=result.latency_ms)
        verdict = judge(count, base, c.spike_ratio, c.min_count)
        detail = {"count": round(count), "window_start": start.isoformat(),
                  "baseline": None if base.value is None else round(base.value),
                  "ratio": None if verdict.ratio is None else round(verdict.ratio, 2),
                  "method": base.method, "spike": verdict.spike, **extra}
        return observed(c, at, c.spike_state if verdict.spike else "operational",
                        reason=verdict.reason, latency_ms=result.latency_ms, detail=detail)

    def read_series(self, document: Any) -> tuple[float, datetime, Baseline, dict[str, Any]]:
        """Current window's count (extrapolated when partial) and the baseline from history."""
        c, window = self.config, self.config.window
        windows: dict[datetime, list[float]] = {}  # start -> [count, covered seconds]
        for start, end, count in self._buckets(document):
            key = window_start(start, window)
            slot = windows.setdefault(key, [0.0, 0.0])
            slot[0] += count
            slot[1] += min((end - start).total_seconds(), window.total_seconds())
        if not windows:
            raise BadResponse(f"no usable buckets at {c.series_path} (each needs "
                              f"{c.start_path}, {c.end_path} and {c.counted()})")
        size = window.total_seconds()
        ordered = sorted(windows)
        current = ordered[-1]
        count, covered = windows[current]
        extrapolated = False
        if covered < size * _PARTIAL_MIN and len(ordered) > 1:
            current = ordered[-2]  # too little of the newest window to judge it fairly
            count, covered = windows[current]
        if covered < size:
            count, extrapolated = count * size / max(covered, 1.0), True
        history = {k: v[0] for k, v in windows.items() if k < current and v[1] >= size * 0.9}
        base = baseline(history, current, window, c.min_history)
        return count, current, base, {"extrapolated": extrapolated, "windows": len(windows)}

    def _buckets(self, document: Any):
        c = self.config
        try:
            items = lookup(document, parse_path(c.series_path))
        except LookupError:
            raise BadResponse(f"{c.series_path} is not in the response") from None
        if not isinstance(items, list):
            raise BadResponse(f"{c.series_path} is not a list of buckets")
        paths = [parse_path(p) for p in (c.start_path, c.end_path, c.counted())]
        for item in items:
            try:
                start, end, count = (lookup(item, p) for p in paths)
                start, end = _time(start), _time(end)
            except (LookupError, TypeError, ValueError):
                continue  # one odd bucket does not spoil the rest
            if isinstance(count, int | float) and not isinstance(count, bool) and count >= 0 \
                    and end > start:
                yield start, end, float(count)

    def read_count(self, document: Any, at: datetime):
        """This poll's count against the per-window means of earlier polls."""
        c = self.config
        try:
            count = lookup(document, parse_path(c.counted()))
        except LookupError:
            raise BadResponse(f"{c.counted()} is not in the response") from None
        if isinstance(count, bool) or not isinstance(count, int | float) or count < 0:
            raise BadResponse(f"{c.counted()} is {count!r}, not a count")
        current = window_start(at, c.window)
        means = {k: total / n for k, (total, n) in self.polled.items()}
        base = baseline(means, current, c.window, c.min_history)
        total, n = self.polled.get(current, (0.0, 0))
        self.polled[current] = (total + float(count), n + 1)
        prune(self.polled, current, _KEEP)
        return float(count), current, base, {"windows": len(self.polled)}

    def state_dict(self) -> dict[str, Any]:
        return {"polled": {k.isoformat(): [total, n] for k, (total, n) in self.polled.items()}}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore `state_dict()` output; malformed windows are dropped."""
        polled = state.get("polled") if isinstance(state, Mapping) else None
        if not isinstance(polled, Mapping):
            return
        for key, value in polled.items():
            try:
                total, n = float(value[0]), int(value[1])
                self.polled[_time(key)] = (total, n)
            except (TypeError, ValueError, IndexError, KeyError):
                continue


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a time")
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError("no offset")
    return when
