"""Pure baseline arithmetic for mention counts: windows, daily-cycle-aware medians, spikes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import median

DAY = timedelta(days=1)
SAME_TIME_DAYS = 7      # look back this many days at the same time of day
MIN_SAME_TIME = 2       # ...and trust that only with at least this many of them
ROLLING_WINDOWS = 24    # otherwise the median of the last this many windows
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_start(at: datetime, window: timedelta) -> datetime:
    """Windows are aligned to the epoch, so a day's windows line up with the next day's."""
    return at - (at - _EPOCH) % window


@dataclass(frozen=True)
class Baseline:
    value: float | None          # None while there is not enough history
    method: str
    windows: int                 # how many windows it was computed from


def baseline(history: dict[datetime, float], current: datetime, window: timedelta,
             min_history: int) -> Baseline:
    """Median of the same time of day over past days when history has them (robust to the
    daily cycle), else a rolling median of the latest windows before `current`."""
    past = {start: value for start, value in history.items() if start < current}
    if window <= DAY and DAY % window == timedelta(0):
        same = [past[current - k * DAY] for k in range(1, SAME_TIME_DAYS + 1)
                if current - k * DAY in past]
        if len(same) >= MIN_SAME_TIME:
            return Baseline(median(same), f"same time of day over {len(same)} days", len(same))
    recent = [past[start] for start in sorted(past)[-ROLLING_WINDOWS:]]
    if len(recent) < min_history:
        return Baseline(None, f"learning: {len(recent)} of {min_history} windows", len(recent))
    return Baseline(median(recent), f"rolling median of {len(recent)} windows", len(recent))


@dataclass(frozen=True)
class Verdict:
    spike: bool
    ratio: float | None
    reason: str


def judge(count: float, base: Baseline, spike_ratio: float, min_count: int) -> Verdict:
    """A spike needs both the ratio to the baseline and a minimum absolute volume."""
    if base.value is None:
        return Verdict(False, None, f"{count:,.0f} mentions; baseline {base.method}")
    ratio = count / base.value if base.value > 0 else float("inf")
    shown = "∞" if ratio == float("inf") else f"{ratio:.2f}"
    text = (f"{count:,.0f} mentions vs a baseline of {base.value:,.0f} ({base.method}): "
            f"{shown}×")
    if ratio >= spike_ratio and count >= min_count:
        return Verdict(True, ratio, f"spike: {text} ≥ {spike_ratio:g}×")
    if ratio >= spike_ratio:
        return Verdict(False, ratio, f"{text}, but below the minimum of {min_count:,}")
    return Verdict(False, ratio, text)


def prune(history: dict[datetime, float], newest: datetime, keep: timedelta) -> None:
    for start in [s for s in history if s < newest - keep]:
        del history[start]
