"""The missed-post rules as pure functions, on a scripted calendar with exact times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.post_schedule import Decision, Slot, first_free, plan_resume, shift_channel


def at(hhmm: str) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return datetime(2026, 11, 22, hours, minutes, tzinfo=UTC)


NOW = at("10:00")
GAP = timedelta(minutes=5)
# Paused 09:00-10:00: A and B were due during the pause, C is still ahead.
PAUSED = [Slot(2, "facebook-page", at("09:40")), Slot(1, "facebook-page", at("09:10")),
          Slot(3, "facebook-page", at("10:30")), Slot(7, "x", at("09:30"))]
# Never paused, same channel: D sits at the first slot, E and F in the shifted block's way.
OTHERS = [Slot(4, "facebook-page", at("10:02")), Slot(5, "facebook-page", at("10:38")),
          Slot(6, "facebook-page", at("10:45")), Slot(8, "x", at("11:00"))]


def times(decisions: list[Decision]) -> dict[int, tuple[str, str | None]]:
    return {d.id: (d.action, d.at.strftime("%H:%M") if d.at else None) for d in decisions}


def test_publish_now_makes_every_missed_post_due_now():
    decisions, pushed = plan_resume(PAUSED, OTHERS, "publish_now", NOW, GAP)
    assert times(decisions) == {1: ("schedule", "10:00"), 2: ("schedule", "10:00"),
                                3: ("schedule", "10:30"), 7: ("schedule", "10:00")}
    assert [d.id for d in decisions if d.missed] == [1, 7, 2]  # in their original order
    assert pushed == []


@pytest.mark.parametrize("rule", ["skip", "hold"])
def test_skip_and_hold_touch_only_missed_posts(rule):
    decisions, pushed = plan_resume(PAUSED, OTHERS, rule, NOW, GAP)
    assert times(decisions) == {1: (rule, None), 2: (rule, None), 7: (rule, None),
                                3: ("schedule", "10:30")}
    assert pushed == []


def test_next_slot_keeps_order_and_spacing_and_pushes_collisions():
    decisions, pushed = plan_resume(PAUSED, OTHERS, "next_slot", NOW, GAP)
    # facebook-page: 10:00 collides with D (10:02), so the first free slot is 10:07; the
    # block keeps its 30-minute spacing (09:10, 09:40 -> 10:07, 10:37). E (10:38) is within
    # 5 minutes of B and moves to 10:42, which pushes F (10:45) to 10:47. x is free at 10:00.
    assert times(decisions) == {1: ("schedule", "10:07"), 2: ("schedule", "10:37"),
                                3: ("schedule", "10:30"), 7: ("schedule", "10:00")}
    assert times(pushed) == {5: ("schedule", "10:42"), 6: ("schedule", "10:47")}


def test_next_slot_with_an_empty_channel_starts_now():
    decisions, pushed = plan_resume([Slot(1, "x", at("09:10")), Slot(2, "x", at("09:12"))],
                                    [], "next_slot", NOW, GAP)
    # Two posts 2 minutes apart stay 2 minutes apart: their own spacing is kept.
    assert times(decisions) == {1: ("schedule", "10:00"), 2: ("schedule", "10:02")}
    assert pushed == []


def test_a_post_due_exactly_now_is_missed():
    decisions, _ = plan_resume([Slot(1, "x", NOW)], [], "skip", NOW, GAP)
    assert times(decisions) == {1: ("skip", None)}


def test_first_free_and_shift_channel_edges():
    assert first_free(NOW, [], GAP) == NOW
    assert first_free(NOW, [at("09:58"), at("10:04"), at("10:20")], GAP) == at("10:09")
    assert shift_channel([], [Slot(1, "x", at("11:00"))], NOW, GAP) == {1: at("11:00")}


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="unknown missed-post rule 'later'"):
        plan_resume(PAUSED, OTHERS, "later", NOW, GAP)
