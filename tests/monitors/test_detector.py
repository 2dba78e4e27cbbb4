"""The detector over scripted timelines on a FakeClock: thresholds, policies, hold, windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.clock import FakeClock
from orchestrator.config import MaintenanceWindow, PlatformConfig
from orchestrator.detector import Detector, DetectorState, FrozenMap, PlatformChange
from orchestrator.errors import MonitorError
from orchestrator.monitors.base import MonitorConfig, Observation

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Canary:
    name: str
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class Verdict:
    all_failed: bool
    results: tuple[Canary, ...]


class Timeline:
    """Feeds scripted observations through the detector and keeps every change it reports."""

    def __init__(self, platforms: dict[str, PlatformConfig], monitors: list[MonitorConfig]):
        self.clock = FakeClock(T0)
        self.detector = Detector(platforms, monitors)
        self.state: DetectorState = self.detector.initial()
        self.changes: list[PlatformChange] = []
        self.network = []

    def see(self, monitor: str, state: str = "operational", *, ok: bool = True,
            after: float = 30, reason: str = "", maintenance: bool = False) -> None:
        now = self.clock.advance(after)
        platform = self.state.monitors[monitor].platform
        obs = Observation(monitor, platform, now, state, ok=ok, reason=reason,
                          maintenance=maintenance)
        self._take(self.detector.observe(self.state, obs, now))

    def tick(self, after: float = 0) -> None:
        now = self.clock.advance(after)
        self._take(self.detector.tick(self.state, now))

    def canaries(self, *oks: bool) -> None:
        results = tuple(Canary(f"c{i}", ok, "" if ok else "connect timeout")
                        for i, ok in enumerate(oks))
        step = self.detector.observe_canaries(self.state, Verdict(not any(oks), results),
                                              self.clock.now())
        self._take(step)

    def _take(self, step) -> None:
        self.state = step.state
        self.changes.extend(step.changes)
        if step.network is not None:
            self.network.append(step.network)

    def path(self, platform: str) -> list[str | None]:
        """The states the platform went through, first known state first."""
        return [c.new for c in self.changes if c.platform == platform]

    def now_state(self, platform: str) -> str | None:
        return self.state.platforms[platform].state


def monitor(name: str, platform: str = "facebook", **kw) -> MonitorConfig:
    return MonitorConfig(name=name, platform=platform, kind="statuspage", **kw)


def single(**platform_kw) -> Timeline:
    return Timeline({"facebook": PlatformConfig(**platform_kw)}, [monitor("fb")])


def test_clean_outage_and_recovery():
    tl = single(hold=timedelta(minutes=2))
    tl.see("fb")
    assert tl.path("facebook") == []               # one poll is below the success threshold
    tl.see("fb")
    assert tl.changes[-1].old is None and tl.changes[-1].new == "operational"
    tl.see("fb", "major_outage", reason="Facebook Pages: major_outage", after=600)
    assert tl.now_state("facebook") == "operational"   # one bad poll is not an outage
    tl.see("fb", "major_outage", reason="Facebook Pages: major_outage")
    outage = tl.changes[-1]
    assert (outage.old, outage.new, outage.at) == ("operational", "major_outage",
                                                   T0 + timedelta(seconds=690))
    assert outage.reason == ("policy any, 1 of 1 live: fb: major_outage for 2 consecutive polls "
                             "(failure threshold 2): Facebook Pages: major_outage")
    tl.see("fb", after=300)
    tl.see("fb")
    recovery = tl.changes[-1]
    assert (recovery.old, recovery.new) == ("major_outage", "operational")
    assert "success threshold 2" in recovery.reason
    assert tl.path("facebook") == ["operational", "major_outage", "operational"]


def test_thresholds_are_per_monitor():
    tl = Timeline({"x": PlatformConfig(hold=timedelta(0))},
                  [monitor("xs", "x", failure_threshold=3, success_threshold=1)])
    for _ in range(2):
        tl.see("xs")
    tl.see("xs")  # one operational poll confirms operational with success_threshold 1
    assert tl.path("x") == ["operational"]
    tl.see("xs", "degraded")
    tl.see("xs", "major_outage")
    assert tl.now_state("x") == "operational"
    tl.see("xs", "major_outage")  # three disagreeing polls in a row: the latest state wins
    assert tl.path("x") == ["operational", "major_outage"]
    tl.see("xs")
    assert tl.path("x")[-1] == "operational"


def test_flapping_is_suppressed_by_hold():
    tl = single(hold=timedelta(minutes=10))
    tl.see("fb"), tl.see("fb")
    tl.see("fb", "major_outage", after=900), tl.see("fb", "major_outage")
    assert tl.now_state("facebook") == "major_outage"
    # The page flaps every minute for the next eight minutes: the platform stays down.
    for _ in range(2):
        tl.see("fb", after=60), tl.see("fb", after=60)
        tl.see("fb", "major_outage", after=60), tl.see("fb", "major_outage", after=60)
    assert tl.path("facebook") == ["operational", "major_outage"]
    # A recovery inside the hold waits for it to pass, then is released by tick().
    tl.see("fb", after=30), tl.see("fb", after=30)
    assert tl.now_state("facebook") == "major_outage"
    assert tl.state.platforms["facebook"].pending == "operational"
    tl.tick(after=60)
    assert tl.now_state("facebook") == "operational"
    assert "held back until 10m in major_outage had passed" in tl.changes[-1].reason


def test_a_flap_back_inside_the_hold_cancels_the_pending_change():
    tl = single(hold=timedelta(minutes=5))
    tl.see("fb"), tl.see("fb")
    tl.see("fb", "major_outage", after=10), tl.see("fb", "major_outage", after=10)
    assert tl.now_state("facebook") == "operational"   # operational since only 20 s
    tl.see("fb", after=10), tl.see("fb", after=10)
    assert tl.state.platforms["facebook"].pending is None
    tl.tick(after=600)
    assert tl.path("facebook") == ["operational"]


def test_maintenance_window_turns_an_outage_into_maintenance():
    window = MaintenanceWindow(start="2026-11-22T13:00:00+00:00", end="2026-11-22T14:00:00+00:00")
    tl = single(hold=timedelta(0), maintenance=[window])
    tl.see("fb"), tl.see("fb")
    tl.clock.set(datetime(2026, 11, 22, 13, 10, tzinfo=UTC))
    tl.see("fb", "major_outage"), tl.see("fb", "major_outage")
    assert tl.now_state("facebook") == "maintenance"
    assert tl.changes[-1].reason.startswith(
        "announced maintenance 2026-11-22T13:00:00+00:00 to 2026-11-22T14:00:00+00:00; "
        "monitors say major_outage")
    # The window closes while the page still says down: tick() shows the outage for what it is.
    tl.clock.set(datetime(2026, 11, 22, 14, 0, tzinfo=UTC))
    tl.tick()
    assert tl.path("facebook") == ["operational", "maintenance", "major_outage"]


def test_operational_inside_a_window_stays_operational_and_vendor_maintenance_is_kept():
    window = MaintenanceWindow(start="2026-11-22T12:00:00+00:00", end="2026-11-22T14:00:00+00:00")
    tl = single(hold=timedelta(0), maintenance=[window])
    tl.see("fb"), tl.see("fb")
    assert tl.now_state("facebook") == "operational"
    tl.see("fb", "degraded", maintenance=True), tl.see("fb", "degraded", maintenance=True)
    assert tl.now_state("facebook") == "maintenance"   # the page itself says maintenance


def test_dead_status_page_is_unknown_not_down():
    tl = single(hold=timedelta(0), unknown_after=3)
    tl.see("fb"), tl.see("fb")
    tl.see("fb", ok=False, reason="HTTP 502"), tl.see("fb", ok=False, reason="HTTP 502")
    assert tl.now_state("facebook") == "operational"   # keeps the last verdict meanwhile
    tl.see("fb", ok=False, reason="timeout after 10s")
    assert tl.changes[-1].new == "unknown"
    assert tl.changes[-1].reason == (
        "policy any needs 1 live signal(s), has 0: fb: signal dead after 3 failed polls "
        "(timeout after 10s)")
    tl.see("fb")   # the page answers again: its last verdict stands at once
    assert tl.path("facebook") == ["operational", "unknown", "operational"]


def test_dead_signal_is_outage_when_configured():
    tl = single(hold=timedelta(0), unknown_after=2, dead_signal_is_outage=True)
    tl.see("fb"), tl.see("fb")
    tl.see("fb", ok=False, reason="connection refused"), tl.see("fb", ok=False)
    assert tl.changes[-1].new == "major_outage"
    assert "dead_signal_is_outage" in tl.changes[-1].reason


def test_failed_polls_do_not_break_a_failure_streak():
    tl = single(hold=timedelta(0))
    tl.see("fb"), tl.see("fb")
    tl.see("fb", "major_outage"), tl.see("fb", ok=False), tl.see("fb", "major_outage")
    assert tl.now_state("facebook") == "major_outage"


def three(policy) -> Timeline:
    return Timeline({"sf": PlatformConfig(policy=policy, hold=timedelta(0))},
                    [monitor(n, "sf", failure_threshold=1, success_threshold=1)
                     for n in ("trust", "mentions", "feed")])


def test_quorum_two_of_three():
    tl = three({"quorum": 2})
    tl.see("trust")
    assert tl.path("sf") == []                         # one verdict cannot make a quorum yet
    tl.see("mentions")
    tl.see("feed")
    assert tl.path("sf") == ["operational"]
    tl.see("mentions", "partial_outage")
    assert tl.now_state("sf") == "operational"         # one of three is not a quorum
    tl.see("trust", "major_outage")
    change = tl.changes[-1]
    assert change.new == "partial_outage"              # the state two monitors agree on
    assert change.reason.startswith("policy quorum: 2, 2 of 3 live: trust: major_outage")
    tl.see("feed", "major_outage")
    assert tl.now_state("sf") == "major_outage"


def test_quorum_with_a_dead_monitor_decides_on_the_live_ones_or_says_unknown():
    tl = three("quorum: 2")
    for name in ("trust", "mentions", "feed"):
        tl.see(name)
    for _ in range(3):
        tl.see("feed", ok=False, reason="HTTP 500")
    assert tl.now_state("sf") == "operational"
    tl.see("trust", "major_outage"), tl.see("mentions", "major_outage")
    assert tl.now_state("sf") == "major_outage"
    for _ in range(3):
        tl.see("mentions", ok=False)
    assert tl.now_state("sf") == "unknown"             # one live signal cannot make a quorum


@pytest.mark.parametrize(("policy", "expected"), [
    pytest.param("any", "major_outage", id="any-worst"),
    pytest.param("all", "degraded", id="all-mildest"),
    pytest.param("quorum: 3", "degraded", id="quorum-3"),
])
def test_policies_combine_verdicts(policy, expected):
    tl = three(policy)
    tl.see("trust", "major_outage"), tl.see("mentions", "partial_outage")
    tl.see("feed", "degraded")
    assert tl.now_state("sf") == expected


def test_all_policy_stays_operational_while_one_monitor_disagrees():
    tl = three("all")
    tl.see("trust", "major_outage"), tl.see("mentions", "major_outage"), tl.see("feed")
    assert tl.path("sf") == ["operational"]


def test_own_network_down_declares_nothing():
    tl = Timeline({"facebook": PlatformConfig(hold=timedelta(0), dead_signal_is_outage=True),
                   "x": PlatformConfig(hold=timedelta(0))},
                  [monitor("fb"), monitor("xs", "x")])
    for _ in range(2):
        tl.see("fb"), tl.see("xs")
    tl.canaries(True, True)
    assert tl.network == []
    tl.see("fb", ok=False, reason="connect timeout")   # one failed poll before the canaries
    tl.canaries(False, False)
    assert tl.state.local_network_problem
    problem = tl.network[-1]
    assert problem.problem and problem.reason == (
        "local network problem: every canary failed (c0: connect timeout; c1: connect timeout)")
    for _ in range(10):   # every poll fails or sees garbage while our uplink is down
        tl.see("fb", ok=False, reason="connect timeout"), tl.see("xs", "major_outage")
        tl.tick()
    assert tl.path("facebook") == ["operational"] and tl.path("x") == ["operational"]
    tl.canaries(True, False)
    assert not tl.state.local_network_problem
    assert tl.network[-1].reason.startswith("local network recovered after 10m")
    # Counts restart after the network is back: a single failure is not a dead signal.
    tl.see("fb", ok=False)
    assert tl.now_state("facebook") == "operational"


def test_one_shot_detector_decides_on_a_single_poll():
    detector = Detector({"facebook": PlatformConfig()}, [monitor("fb")], one_shot=True)
    obs = Observation("fb", "facebook", T0, "partial_outage")
    step = detector.observe(detector.initial(), obs, T0)
    assert [(c.old, c.new) for c in step.changes] == [(None, "partial_outage")]


def test_steps_leave_earlier_states_untouched():
    detector = Detector({}, [monitor("fb", failure_threshold=1, success_threshold=1)])
    before = detector.initial()
    after = detector.observe(before, Observation("fb", "facebook", T0, "major_outage"), T0).state
    assert before.platforms["facebook"].state is None
    assert after.platforms["facebook"].state == "major_outage"
    with pytest.raises(TypeError):
        after.platforms["facebook"] = None  # type: ignore[index]


def test_unconfigured_monitor_is_an_error():
    detector = Detector({}, [monitor("fb")])
    with pytest.raises(MonitorError, match="unconfigured monitor 'nope'"):
        detector.observe(detector.initial(), Observation("nope", "x", T0, "operational"), T0)


def test_frozen_map_copies_on_write():
    before = FrozenMap({f"m{i}": i for i in range(500)})
    after = before.set_many({"m1": -1, "new": 7})
    assert (before["m1"], after["m1"], len(before), len(after)) == (1, -1, 500, 501)
    assert "new" not in before and dict(after) == {**dict(before), "m1": -1, "new": 7}


def test_a_new_leader_carries_on_from_the_stored_states():
    """Seeded with what the last leader stored, an outage is declared after the failure
    threshold, not held back for `hold` as a freshly learned state would be."""
    tl = single(hold=timedelta(minutes=2))
    stored_since = T0 - timedelta(hours=3)
    tl.state = tl.detector.initial({"facebook": ("operational", stored_since)})
    tl.see("fb", "major_outage")
    tl.see("fb", "major_outage")
    [outage] = tl.changes
    assert (outage.old, outage.new) == ("operational", "major_outage")
    # Unseeded, the same two polls only teach the detector the platform's first state.
    fresh = single(hold=timedelta(minutes=2))
    fresh.see("fb", "major_outage")
    fresh.see("fb", "major_outage")
    assert [(c.old, c.new) for c in fresh.changes] == [(None, "major_outage")]


def test_a_stored_outage_is_not_announced_again():
    tl = single()
    tl.state = tl.detector.initial({"facebook": ("major_outage", T0 - timedelta(minutes=10))})
    tl.see("fb", "major_outage")
    tl.see("fb", "major_outage")
    assert tl.changes == []
