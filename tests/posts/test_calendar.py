"""Pause and resume on the store (SQLite and PostgreSQL): selection, records, rules, crashes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from orchestrator.outbox import MemoryOutbox
from orchestrator.posts import (
    PostError,
    Selector,
    add_post,
    list_posts,
    pause_posts,
    resume_posts,
    select_posts,
)
from orchestrator.publisher import publish_due
from orchestrator.store.engine import make_engine
from orchestrator.store.schema import audit_log
from tests.posts.conftest import T0, make_run


def at(minutes: int):
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def calendar(engine, config):
    """A small calendar: two Meta channels, X, Mastodon; campaigns and tags mixed."""
    def add(channel, minutes, campaign=None, tags=()):
        return add_post(engine, config, channel=channel, text=f"{channel} at +{minutes}m",
                        publish_at=at(minutes), campaign=campaign, tags=tags, by="tester")

    return {
        "fb": add("facebook-page", 30, campaign="spring", tags=("promo",)),
        "ig": add("instagram", 40, tags=("links-to-facebook",)),
        "x": add("x", 50, campaign="spring"),
        "masto": add("mastodon", 60, tags=("links-to-facebook", "promo")),
        "x2": add("x", 70),
    }


@pytest.mark.parametrize(("selector", "expected"), [
    pytest.param(Selector(channels=("x",)), {"x", "x2"}, id="channel"),
    pytest.param(Selector(platforms=("facebook",)), {"fb", "ig"}, id="platform"),
    pytest.param(Selector(platforms=("instagram",)), {"ig"}, id="platform-one-channel"),
    pytest.param(Selector(platforms=("meta",)), {"fb", "ig"}, id="platform-family"),
    pytest.param(Selector(campaigns=("spring",)), {"fb", "x"}, id="campaign"),
    pytest.param(Selector(tags=("links-to-facebook",)), {"ig", "masto"}, id="tag"),
    pytest.param(Selector(platforms=("facebook",), tags=("links-to-facebook",)),
                 {"fb", "ig", "masto"}, id="union"),
    pytest.param(Selector(all=True), {"fb", "ig", "x", "masto", "x2"}, id="all"),
])
def test_pause_selects_by_channel_platform_campaign_and_tag(engine, config, calendar,
                                                            selector, expected):
    names = {post_id: name for name, post_id in calendar.items()}
    assert {names[p.id] for p in select_posts(engine, config, selector)} == expected
    paused = pause_posts(engine, config, selector, reason="Facebook outage", by="ops",
                         now=T0)
    assert {names[i] for i in paused} == expected
    states = {names[p.id]: p.state for p in list_posts(engine)}
    assert {n for n, s in states.items() if s == "paused"} == expected
    assert {n for n, s in states.items() if s == "scheduled"} == set(calendar) - expected


def test_an_empty_selector_pauses_nothing(engine, config, calendar):
    with pytest.raises(ValueError, match="an empty selector pauses nothing"):
        pause_posts(engine, config, Selector(), reason="r", by="ops", now=T0)


def test_pause_records_who_why_and_run(engine, config, calendar):
    run = make_run(engine)
    paused = pause_posts(engine, config, Selector(channels=("facebook-page",)),
                         reason="Facebook outage", by="run:1", run_id=run, now=T0)
    [post] = list_posts(engine, state="paused")
    assert (post.id, post.paused_at, post.paused_by, post.pause_reason, post.pause_run_id) == (
        paused[0], T0, "run:1", "Facebook outage", run)
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.action == "posts.pause")).all()
    assert [(r.actor, r.subject_id, r.detail) for r in rows] == [
        ("run:1", str(post.id), {"reason": "Facebook outage", "run_id": run})]


def test_pausing_twice_takes_nothing_more(engine, config, calendar):
    first = pause_posts(engine, config, Selector(channels=("x",)), reason="r", by="a", now=T0)
    again = pause_posts(engine, config, Selector(channels=("x",)), reason="r", by="b", now=T0)
    assert len(first) == 2 and again == []
    assert {p.paused_by for p in list_posts(engine, state="paused")} == {"a"}


def test_a_post_due_20s_after_the_pause_is_never_published_while_paused(engine, config):
    due = add_post(engine, config, channel="facebook-page", text="Flash sale!",
                   publish_at=T0 + timedelta(seconds=20))
    pause_posts(engine, config, Selector(platforms=("facebook",)), reason="outage",
                by="ops", now=T0)
    outbox = MemoryOutbox()
    for later in (timedelta(seconds=20), timedelta(seconds=21), timedelta(hours=3)):
        assert publish_due(engine, config, outbox, T0 + later) == 0
    assert outbox.rows == {}
    [post] = list_posts(engine)
    assert (post.id, post.state) == (due, "paused")


def test_a_post_already_due_but_unpublished_is_paused_too(engine, config):
    # Due 10 s before the pause, and the publisher has not run since: it must not go out.
    due = add_post(engine, config, channel="facebook-page", text="Flash sale!",
                   publish_at=T0 - timedelta(seconds=10))
    assert pause_posts(engine, config, Selector(channels=("facebook-page",)),
                       reason="outage", by="ops", now=T0) == [due]
    outbox = MemoryOutbox()
    assert publish_due(engine, config, outbox, T0) == 0
    assert outbox.rows == {}


def _scripted(engine, config):
    """09:00-10:00 pause (T0 = 13:00 here); missed A, B; C still ahead; D, E, F never paused."""
    def add(name, channel, minutes, campaign):
        return name, add_post(engine, config, channel=channel, text=name,
                              publish_at=at(minutes), campaign=campaign)

    # B is added before A: the publisher must follow their times, not their ids.
    ids = dict([add("B", "facebook-page", 40, "spring"), add("A", "facebook-page", 10, "spring"),
                add("C", "facebook-page", 90, "spring"), add("X1", "x", 30, "spring"),
                add("D", "facebook-page", 62, "evergreen"),
                add("E", "facebook-page", 98, "evergreen"),
                add("F", "facebook-page", 105, "evergreen")])
    run = make_run(engine)
    pause_posts(engine, config, Selector(campaigns=("spring",)), reason="outage", by="run",
                run_id=run, now=T0)
    return ids, run


def _times(engine, ids):
    posts = {p.id: p for p in list_posts(engine)}
    return {name: (posts[i].state, int((posts[i].publish_at - T0).total_seconds() // 60))
            for name, i in ids.items()}


NEVER_PAUSED = {"D": ("scheduled", 62), "E": ("scheduled", 98), "F": ("scheduled", 105)}


@pytest.mark.parametrize(("rule", "expected"), [
    pytest.param("publish_now", {"A": ("scheduled", 60), "B": ("scheduled", 60),
                                 "X1": ("scheduled", 60), "C": ("scheduled", 90),
                                 **NEVER_PAUSED}, id="publish_now"),
    pytest.param("next_slot", {"A": ("scheduled", 67), "B": ("scheduled", 97),
                               "X1": ("scheduled", 60), "C": ("scheduled", 90),
                               "D": ("scheduled", 62), "E": ("scheduled", 102),
                               "F": ("scheduled", 107)}, id="next_slot"),
    pytest.param("skip", {"A": ("skipped", 10), "B": ("skipped", 40), "X1": ("skipped", 30),
                          "C": ("scheduled", 90), **NEVER_PAUSED}, id="skip"),
    pytest.param("hold", {"A": ("held", 10), "B": ("held", 40), "X1": ("held", 30),
                          "C": ("scheduled", 90), **NEVER_PAUSED}, id="hold"),
])
def test_missed_rules_on_a_scripted_calendar(engine, config, rule, expected):
    ids, run = _scripted(engine, config)
    report = resume_posts(engine, config, run_id=run, missed=rule, by="run", now=at(60))
    assert _times(engine, ids) == expected
    assert report.resumed == (ids["C"],)
    if rule == "next_slot":
        assert dict(report.pushed) == {ids["E"]: at(102), ids["F"]: at(107)}


def test_publish_now_goes_out_in_the_original_order(engine, config):
    ids, run = _scripted(engine, config)
    resume_posts(engine, config, run_id=run, missed="publish_now", by="run", now=at(60))
    outbox = MemoryOutbox()
    assert publish_due(engine, config, outbox, at(60)) == 3
    names = {i: n for n, i in ids.items()}
    order = [names[int(key.split(":")[1])] for key in outbox.rows]
    assert order == ["A", "X1", "B"]


def test_a_person_decides_about_held_posts(engine, config):
    ids, run = _scripted(engine, config)
    resume_posts(engine, config, run_id=run, missed="hold", by="run", now=at(60))
    report = resume_posts(engine, config, ids=[ids["A"]], missed="publish_now", by="alice",
                          now=at(75))
    assert report.rescheduled == ((ids["A"], at(75)),)
    report = resume_posts(engine, config, ids=[ids["B"]], missed="skip", by="alice",
                          now=at(75))
    assert report.skipped == (ids["B"],)
    assert _times(engine, {k: ids[k] for k in ("A", "B", "X1")}) == {
        "A": ("scheduled", 75), "B": ("skipped", 40), "X1": ("held", 30)}


def test_a_crash_between_pause_and_resume_loses_no_post(db_url, config):
    first = make_engine(db_url)
    from orchestrator.store.migrate import upgrade
    upgrade(first)
    ids, run = _scripted(first, config)
    first.dispose()  # the process dies here: nothing but the database remains

    second = make_engine(db_url)
    try:
        report = resume_posts(second, config, run_id=run, missed="next_slot", by="run",
                              now=at(60))
        states = _times(second, ids)
    finally:
        second.dispose()
    assert set(report.resumed) | {i for i, _ in report.rescheduled} == {
        ids["A"], ids["B"], ids["C"], ids["X1"]}
    assert {name for name, (state, _) in states.items() if state != "scheduled"} == set()
    assert len(states) == 7


def test_resume_by_selector_leaves_other_runs_paused(engine, config, calendar):
    pause_posts(engine, config, Selector(channels=("x", "mastodon")), reason="r", by="ops",
                now=T0)
    report = resume_posts(engine, config, selector=Selector(channels=("x",)),
                          missed="skip", by="ops", now=at(5))
    assert set(report.resumed) == {calendar["x"], calendar["x2"]}
    assert [p.id for p in list_posts(engine, state="paused")] == [calendar["masto"]]


def test_add_post_refuses_what_the_channel_cannot_take(engine, config):
    with pytest.raises(PostError, match="unknown channel 'facebok'"):
        add_post(engine, config, channel="facebok", text="hi", publish_at=T0)
    with pytest.raises(PostError, match="text is 281 characters; channel 'x' allows 280"):
        add_post(engine, config, channel="x", text="a" * 281, publish_at=T0)
    with pytest.raises(PostError, match="cannot publish a post"):
        add_post(engine, config, channel="sms", text="hi", publish_at=T0)
    assert list_posts(engine) == []
