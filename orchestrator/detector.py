"""The detector: a pure function from (state, observation, now) to a new state and platform changes.

Per monitor, a verdict changes only after `failure_threshold` (towards a non-operational
state) or `success_threshold` (back to operational) consecutive observations that disagree
with it. Failed polls (`ok=False`) are not evidence: after `unknown_after` of them in a row
the monitor's signal is dead and counts as `unknown` (or `major_outage` when the platform
says `dead_signal_is_outage`). Per platform, live verdicts combine by policy: `any` takes
the worst, `all` the mildest, `quorum: N` the state at least N monitors agree on. A new
platform state is adopted only when the current one has been held for `hold`; an announced
maintenance window turns any non-operational state into `maintenance`. When every canary
fails, the problem is our own network: nothing changes until a canary answers again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol

from orchestrator.errors import MonitorError
from orchestrator.models import PlatformState
from orchestrator.monitors.base import MonitorConfig, Observation

# How bad each state is, for combining monitors. `unknown` is absence of evidence, not a rank.
SEVERITY: Mapping[str, int] = MappingProxyType({
    "operational": 0, "maintenance": 1, "degraded": 2, "partial_outage": 3, "major_outage": 4,
})


class FrozenMap(Mapping[str, Any]):
    """An immutable mapping whose `set` copies one of 64 shards: O(n/64), not O(n), per step.

    With thousands of monitors, copying one dict per observation cost more CPU than the poll.
    """

    __slots__ = ("_shards", "_len")
    _MASK = 63

    def __init__(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()):
        shards: list[dict[str, Any]] = [{} for _ in range(self._MASK + 1)]
        for key, value in dict(items).items():
            shards[hash(key) & self._MASK][key] = value
        self._shards, self._len = tuple(shards), sum(map(len, shards))

    def __getitem__(self, key: str) -> Any:
        return self._shards[hash(key) & self._MASK][key]

    def __iter__(self):
        for shard in self._shards:
            yield from shard

    def __len__(self) -> int:
        return self._len

    def set_many(self, pairs: Mapping[str, Any]) -> FrozenMap:
        """A new map with `pairs` set; this one is untouched."""
        shards = list(self._shards)
        copied: set[int] = set()
        size = self._len
        for key, value in pairs.items():
            index = hash(key) & self._MASK
            if index not in copied:
                shards[index] = shards[index].copy()
                copied.add(index)
            size += key not in shards[index]
            shards[index][key] = value
        new = object.__new__(FrozenMap)
        new._shards, new._len = tuple(shards), size
        return new


class CanaryVerdictLike(Protocol):
    all_failed: bool
    results: Sequence[Any]


@dataclass(frozen=True, slots=True)
class MonitorTrack:
    """What the detector remembers about one monitor."""

    platform: str
    verdict: PlatformState | None = None   # confirmed by the thresholds; None before the first
    verdict_since: datetime | None = None
    why: str = ""                          # why the verdict is what it is
    streak: int = 0                        # consecutive observations disagreeing with it
    failed_polls: int = 0                  # consecutive ok=False observations
    last: Observation | None = None


@dataclass(frozen=True, slots=True)
class PlatformTrack:
    """What the detector remembers about one platform: its state and any change held back."""

    state: PlatformState | None = None     # None until the monitors first say something
    since: datetime | None = None
    reason: str = ""
    pending: PlatformState | None = None   # the state the monitors want, held back by `hold`
    pending_reason: str = ""


@dataclass(frozen=True, slots=True)
class DetectorState:
    """The detector's whole memory; never mutated, each step returns a new one."""

    monitors: FrozenMap      # monitor name -> MonitorTrack
    platforms: FrozenMap     # platform name -> PlatformTrack
    network_down_since: datetime | None = None
    network_reason: str = ""

    @property
    def local_network_problem(self) -> bool:
        """True while every canary fails: alert the operator, start no customer-facing playbook."""
        return self.network_down_since is not None


@dataclass(frozen=True, slots=True)
class PlatformChange:
    """A platform moved from `old` (None: first known state) to `new` at `at`, and why."""

    platform: str
    old: PlatformState | None
    new: PlatformState
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class NetworkEvent:
    """Our own network went down (`problem=True`: "local network problem") or came back."""

    problem: bool
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Step:
    """The result of one detector step."""

    state: DetectorState
    changes: tuple[PlatformChange, ...] = ()
    network: NetworkEvent | None = None


@dataclass(frozen=True, slots=True)
class _MonitorRule:
    platform: str
    failure_threshold: int
    success_threshold: int


@dataclass(frozen=True, slots=True)
class _PlatformRule:
    monitors: tuple[str, ...]
    policy: str
    required: int | None                  # None: every live monitor (`all`)
    hold: timedelta
    unknown_after: int
    dead_is_outage: bool
    windows: tuple[tuple[datetime, datetime], ...]


class Detector:
    """Holds the rules from the config; every method is a pure function of its arguments."""

    def __init__(self, platforms: Mapping[str, Any], monitors: Iterable[MonitorConfig], *,
                 one_shot: bool = False):
        # one_shot (for `orchestrator check`): a single poll decides, no hold.
        from orchestrator.config import PlatformConfig
        monitors = [m for m in monitors if m.enabled]
        self._monitors = {m.name: _MonitorRule(
            m.platform, 1 if one_shot else m.failure_threshold,
            1 if one_shot else m.success_threshold) for m in monitors}
        by_platform: dict[str, list[str]] = {p: [] for p in platforms}
        for m in monitors:
            by_platform.setdefault(m.platform, []).append(m.name)
        self._platforms = {
            p: _platform_rule(platforms.get(p) or PlatformConfig(), tuple(names), one_shot)
            for p, names in sorted(by_platform.items())}

    @classmethod
    def from_config(cls, config: Any, *, one_shot: bool = False) -> Detector:
        return cls(config.platforms, config.monitors, one_shot=one_shot)

    @property
    def platform_names(self) -> tuple[str, ...]:
        return tuple(self._platforms)

    def initial(self, known: Mapping[str, tuple[PlatformState, datetime]] | None = None,
                ) -> DetectorState:
        """A fresh state; `known` (platform → (state, since), as the store has them) lets a new
        leader carry on where the last one stopped instead of re-learning every platform and
        holding the first real change back for `hold`."""
        tracks = {name: MonitorTrack(rule.platform) for name, rule in self._monitors.items()}
        known = known or {}
        platforms = {p: (PlatformTrack(known[p][0], known[p][1], "as stored by the last leader")
                         if p in known else PlatformTrack()) for p in self._platforms}
        return DetectorState(FrozenMap(tracks), FrozenMap(platforms))

    def observe(self, state: DetectorState, obs: Observation, now: datetime) -> Step:
        """Feed one observation; return the new state and any platform change it causes."""
        rule = self._monitors.get(obs.monitor)
        if rule is None:
            raise MonitorError(f"observation from unconfigured monitor {obs.monitor!r}")
        track = state.monitors[obs.monitor]
        if state.local_network_problem:
            # Our own network is down: keep the latest reading, count nothing.
            return Step(_with_monitor(state, obs.monitor, replace(track, last=obs)))
        new_track = _advance(track, obs, rule)
        state = _with_monitor(state, obs.monitor, new_track)
        platform = self._platforms[rule.platform]
        held = state.platforms[rule.platform]
        if (held.state is not None and held.pending is None
                and _evidence(track, platform) == _evidence(new_track, platform)):
            return Step(state)  # the usual poll: same verdict, nothing held back, no change
        return self._settle(state, (rule.platform,), now)

    def observe_canaries(self, state: DetectorState, verdict: CanaryVerdictLike,
                         now: datetime) -> Step:
        """Feed the canaries' verdict: all failed is a local network problem, not an outage."""
        if verdict.all_failed and not state.local_network_problem:
            reason = "local network problem: every canary failed (" + _canary_reasons(verdict) + ")"
            # Counts gathered while the network was failing are not evidence of anything.
            monitors = {n: replace(t, streak=0, failed_polls=0) for n, t in state.monitors.items()}
            state = replace(state, monitors=FrozenMap(monitors),
                            network_down_since=now, network_reason=reason)
            return Step(state, network=NetworkEvent(True, now, reason))
        if not verdict.all_failed and state.local_network_problem:
            down = now - state.network_down_since
            reason = f"local network recovered after {_fmt(down)}: a canary answers again"
            state = replace(state, network_down_since=None, network_reason="")
            return Step(state, network=NetworkEvent(False, now, reason))
        return Step(state)

    def tick(self, state: DetectorState, now: datetime) -> Step:
        """Release changes whose hold has passed; open and close maintenance windows."""
        if state.local_network_problem:
            return Step(state)
        due = [p for p, track in state.platforms.items()
               if track.pending is not None or self._platforms[p].windows]
        return self._settle(state, due, now)

    def _settle(self, state: DetectorState, platforms: Iterable[str], now: datetime) -> Step:
        changes = []
        new_tracks = {}
        for platform in platforms:
            rule = self._platforms[platform]
            desired, reason = _combine(rule, [(m, state.monitors[m]) for m in rule.monitors])
            desired, reason = _apply_windows(rule, desired, reason, now)
            track, change = _hold(platform, rule, state.platforms[platform], desired, reason, now)
            new_tracks[platform] = track
            if change is not None:
                changes.append(change)
        return Step(replace(state, platforms=state.platforms.set_many(new_tracks)), tuple(changes))


def _platform_rule(config: Any, monitors: tuple[str, ...], one_shot: bool) -> _PlatformRule:
    quorum = config.quorum()
    required = 1 if config.policy == "any" else quorum
    windows = tuple((datetime.fromisoformat(w.start), datetime.fromisoformat(w.end))
                    for w in config.maintenance)
    return _PlatformRule(monitors, config.policy, required,
                         timedelta(0) if one_shot else config.hold,
                         1 if one_shot else config.unknown_after,
                         config.dead_signal_is_outage, windows)


def _with_monitor(state: DetectorState, name: str, track: MonitorTrack) -> DetectorState:
    return replace(state, monitors=state.monitors.set_many({name: track}))


def _evidence(track: MonitorTrack, rule: _PlatformRule) -> tuple[str | None, bool]:
    """What a monitor contributes to its platform: its verdict and whether its signal is dead."""
    return track.verdict, track.failed_polls >= rule.unknown_after


def _advance(track: MonitorTrack, obs: Observation, rule: _MonitorRule) -> MonitorTrack:
    """One observation through a monitor's thresholds."""
    if not obs.ok:
        return replace(track, failed_polls=track.failed_polls + 1, last=obs)
    seen: PlatformState = ("maintenance" if obs.maintenance and obs.state != "operational"
                           else obs.state)
    if seen == track.verdict:
        return replace(track, streak=0, failed_polls=0, last=obs)
    streak = track.streak + 1
    kind, threshold = (("success", rule.success_threshold) if seen == "operational"
                       else ("failure", rule.failure_threshold))
    if streak < threshold:
        return replace(track, streak=streak, failed_polls=0, last=obs)
    polls = "1 poll" if streak == 1 else f"{streak} consecutive polls"
    why = f"{seen} for {polls} ({kind} threshold {threshold})"
    if obs.reason:
        why += f": {obs.reason}"
    return MonitorTrack(track.platform, seen, obs.at, why, 0, 0, obs)


def _combine(rule: _PlatformRule,
             tracks: Sequence[tuple[str, MonitorTrack]]) -> tuple[PlatformState | None, str]:
    """The platform state the monitors' verdicts support under the policy, and why."""
    live: list[tuple[str, str, str]] = []
    silent: list[str] = []
    undecided = 0
    for name, track in tracks:
        if track.failed_polls >= rule.unknown_after:
            last = track.last.reason if track.last and track.last.reason else "no answer"
            dead = f"{name}: signal dead after {track.failed_polls} failed polls ({last})"
            if rule.dead_is_outage:
                live.append((name, "major_outage", dead + ", dead_signal_is_outage"))
            else:
                silent.append(dead)
        elif track.verdict is None or track.verdict == "unknown":
            undecided += track.verdict is None
            silent.append(f"{name}: {'no verdict yet' if track.verdict is None else track.why}")
        else:
            live.append((name, track.verdict, track.why))
    required = (len(live) + undecided if rule.required is None
                else min(rule.required, len(tracks)))
    if not live or len(live) < required:
        if undecided and len(live) + undecided >= max(required, 1):
            return None, "waiting for the first verdicts"  # startup: not unknown, just early
        need = f"policy {rule.policy} needs {required or 1} live signal(s), has {len(live)}"
        return "unknown", f"{need}: " + "; ".join(silent)
    ranked = sorted(live, key=lambda item: SEVERITY[item[1]], reverse=True)
    state = ranked[required - 1][1]
    backing = [f"{n}: {why}" for n, s, why in ranked if SEVERITY[s] >= SEVERITY[state]]
    reason = f"policy {rule.policy}, {len(backing)} of {len(live)} live: " + "; ".join(backing)
    if silent:
        reason += " (ignored: " + "; ".join(silent) + ")"
    return state, reason  # type: ignore[return-value]


def _apply_windows(rule: _PlatformRule, state: PlatformState | None, reason: str,
                   now: datetime) -> tuple[PlatformState | None, str]:
    if state in (None, "operational", "maintenance"):
        return state, reason
    for start, end in rule.windows:
        if start <= now < end:
            window = f"{start.isoformat()} to {end.isoformat()}"
            return "maintenance", f"announced maintenance {window}; monitors say {state}: {reason}"
    return state, reason


def _hold(platform: str, rule: _PlatformRule, track: PlatformTrack, desired: PlatformState | None,
          reason: str, now: datetime) -> tuple[PlatformTrack, PlatformChange | None]:
    """Adopt `desired` unless the current state has not yet been held for `hold`."""
    if desired is None or desired == track.state:
        return (track if track.pending is None
                else replace(track, pending=None, pending_reason="")), None
    if track.state is not None and track.since is not None and now < track.since + rule.hold:
        return replace(track, pending=desired, pending_reason=reason), None
    if track.pending == desired and track.since is not None:
        reason += f" (held back until {_fmt(rule.hold)} in {track.state} had passed)"
    change = PlatformChange(platform, track.state, desired, now, reason)
    return PlatformTrack(desired, now, reason), change


def _canary_reasons(verdict: CanaryVerdictLike) -> str:
    parts = []
    for result in verdict.results:
        name = getattr(result, "name", None) or getattr(result, "url", None) or "canary"
        parts.append(f"{name}: {getattr(result, 'reason', '') or 'failed'}")
    return "; ".join(parts) or "no canaries answered"


def _fmt(delta: timedelta) -> str:
    from orchestrator.durations import format_duration
    return format_duration(delta)
